"""Channels in the plan: validation, `${VAR}` from the environment, secrets kept out."""

from __future__ import annotations

import pytest

from migration_runbook.delivery import DeliveryError, expand, scrub, shown_url
from migration_runbook.errors import PlanInvalid
from migration_runbook.plan import Channel, load_plan

BASE = """
id: c
title: Channels
timezone: UTC
services: [{id: api, name: API}]
phases:
  - {id: a, name: A, start: 2020-01-01 00:00, end: 2020-01-01 01:00,
     rollback: {duration: 10m, plan: Undo.}}
communications:
  channels:
"""


@pytest.mark.parametrize("channels, message", [
    ('    - {id: x, url: "json://h", kinds: [announcment]}',
     "unknown notice kind 'announcment' (use one of announcement, reminder, in-progress"),
    ('    - {id: x, url: "json://h", depends_on: [sms]}',
     "channel 'x' depends on unknown service 'sms' (services: api)"),
    ('    - {id: x, url: "json://h"}\n    - {id: x, url: "json://i"}',
     "duplicate channel id 'x'"),
    ('    - {id: x, urls: "json://h"}', "unknown key 'urls'"),
])
def test_a_bad_channel_is_one_error_naming_the_line(write_plan, channels, message) -> None:
    path = write_plan(BASE + channels + "\n")
    with pytest.raises(PlanInvalid) as caught:
        load_plan(path)
    lines = caught.value.lines()
    assert any(message in line and line.startswith(f"{path}:1") for line in lines), lines


def test_secrets_come_from_the_environment_and_are_scrubbed() -> None:
    channel = Channel(id="mail", url="mailtos://${U}:${P}@smtp.example.net?to=a@b.c")
    url, secrets = expand(channel, {"U": "bob", "P": "p@ss w/rd"})
    assert url == "mailtos://bob:p@ss w/rd@smtp.example.net?to=a@b.c"
    assert shown_url(channel) == "mailtos://${U}:***@smtp.example.net?to=a@b.c"
    said = scrub("login failed for bob:p%40ss%20w%2Frd at\nsmtp (p@ss w/rd)", secrets)
    assert "p@ss" not in said and "p%40ss" not in said and "\n" not in said
    with pytest.raises(DeliveryError, match=r"channel 'mail': environment variable P is not "
                       r"set \(its URL uses \$\{P\}\)"):
        expand(channel, {"U": "bob"})
