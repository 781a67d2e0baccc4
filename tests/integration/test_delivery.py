"""Notices that really go out: a real SMTP server and a real HTTP receiver on 127.0.0.1,
each delivery recorded once in the event log's hash chain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from migration_runbook import delivery, events
from migration_runbook.plan import load_plan
from tests.conftest import ROOT, run_cli

TOKEN = "s3cr3t-t0ken-4242"

PLAN = """
id: notify-test
title: Notify test migration
timezone: Pacific/Auckland
revision: 3
services:
  - {id: api, name: REST API}
  - {id: sms, name: SMS API}
phases:
  - id: core
    name: Core <b>move</b>
    start: 2020-09-07 21:00
    end: 2020-09-08 01:00
    impacts:
      - {service: api, level: unavailable, detail: The API is down.}
    rollback:
      duration: 30m
      plan: Restore the SMPP binds from the snapshot.
      customer: If we roll back, service returns as it was before the window.
communications:
  sender: Test Support
  note: If you get a rejected response during a window, re-send the message.
  channels:
    - id: email
      url: "mailto://ops@127.0.0.1:${SMTP_PORT}?to=list@example.net&from=ops@example.net&mode=insecure"
    - id: hooks
      url: "json://127.0.0.1:${HOOK_PORT}/hook/${HOOK_TOKEN}"
      depends_on: [sms]
"""


@pytest.fixture
def plan_file(write_plan) -> Path:
    return write_plan(PLAN)


@pytest.fixture
def env(smtp_inbox, http_inbox) -> dict[str, str]:
    return {**os.environ, "SMTP_PORT": str(smtp_inbox.port), "HOOK_PORT": str(http_inbox.port),
            "HOOK_TOKEN": TOKEN}


def one_line_error(result, *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def records(plan_file: Path, outputs: Path) -> list[delivery.Delivery]:
    plan = load_plan(plan_file)
    with events.open_log(plan, outputs) as log:
        assert log.verify().ok
        return delivery.deliveries(log.events())


def test_announcement_reaches_a_real_smtp_server_with_text_and_inlined_html(
        plan_file, env, smtp_inbox, tmp_path) -> None:
    out = tmp_path / "run"
    result = run_cli("notices", plan_file, "announcement", "--send", "--channel", "email",
                     "--outputs", out, env=env)
    assert result.returncode == 0, result.stderr
    assert "sent to email: Notify test migration: 1 maintenance window" in result.stdout
    assert len(smtp_inbox.messages) == 1
    message = smtp_inbox.messages[0]
    assert message["Subject"].startswith("Notify test migration: 1 maintenance window")
    assert message["To"] == "list@example.net"
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/alternative", "text/plain", "text/html"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "re-send the message" in text and "re-send the message" in html
    assert "<style" not in html and 'style="' in html           # CSS inlined
    assert "Core &lt;b&gt;move&lt;/b&gt;" in html                 # plan text stays text
    assert "SMPP" not in text + html                             # internal rollback plan
    assert "service returns as it was before the window" in text + html
    [intent, sent] = records(plan_file, out)
    assert (intent.event, sent.event) == ("notice-intent", "notice-sent")
    assert sent.key == ("announcement", "", 3, "email")
    assert len(sent.digest) == 64
    assert (out / "notices" / "announcement.txt").exists()


def test_webhook_gets_json_and_a_second_send_is_refused(plan_file, env, http_inbox,
                                                        tmp_path) -> None:
    out = tmp_path / "run"
    first = run_cli("notices", plan_file, "announcement", "--send", "--channel", "hooks",
                    "--outputs", out, env=env)
    assert first.returncode == 0, first.stderr
    [post] = http_inbox.posts
    assert post["path"] == f"/hook/{TOKEN}"
    assert post["body"]["title"].startswith("Notify test migration")
    assert "re-send the message" in post["body"]["message"]
    second = run_cli("notices", plan_file, "announcement", "--send", "--channel", "hooks",
                     "--outputs", out, env=env)
    one_line_error(second, "already went to channel 'hooks' at ", " NZ", " UTC)",
                   "(event #2)", "--again")
    assert len(http_inbox.posts) == 1, "re-delivered"
    again = run_cli("notices", plan_file, "announcement", "--send", "--channel", "hooks",
                    "--again", "--outputs", out, env=env)
    assert again.returncode == 0, again.stderr
    assert len(http_inbox.posts) == 2
    for output in (first, second, again):
        assert TOKEN not in output.stdout + output.stderr
    assert TOKEN.encode() not in (out / "events.sqlite").read_bytes()


def test_a_sent_channel_is_skipped_while_the_others_get_it(plan_file, env, http_inbox,
                                                          smtp_inbox, tmp_path) -> None:
    out = tmp_path / "run"
    assert run_cli("notices", plan_file, "announcement", "--send", "--channel", "hooks",
                   "--outputs", out, env=env).returncode == 0
    both = run_cli("notices", plan_file, "announcement", "--send", "--outputs", out, env=env)
    assert both.returncode == 0, both.stderr
    assert "sent to email" in both.stdout and "skipped: " in both.stdout
    assert len(http_inbox.posts) == 1 and len(smtp_inbox.messages) == 1


def test_a_failed_channel_is_recorded_and_retried(plan_file, env, http_inbox,
                                                  tmp_path) -> None:
    out = tmp_path / "run"
    http_inbox.status = 500
    failed = run_cli("notices", plan_file, "announcement", "--send", "--channel", "hooks",
                     "--outputs", out, env=env)
    one_line_error(failed, "channel 'hooks' failed:", "500", "recorded as failed")
    assert TOKEN not in failed.stderr
    assert [d.event for d in records(plan_file, out)] == ["notice-intent", "notice-failed"]
    assert not (out / "notices").exists(), "a notice that went nowhere is not kept as sent"
    http_inbox.status = 200
    retried = run_cli("notices", plan_file, "announcement", "--send", "--channel", "hooks",
                      "--outputs", out, env=env)
    assert retried.returncode == 0, retried.stderr
    assert len(http_inbox.posts) == 1
    assert [d.event for d in records(plan_file, out)] == [
        "notice-intent", "notice-failed", "notice-intent", "notice-sent"]


def test_a_crash_between_delivery_and_record_is_reported_on_the_next_run(
        plan_file, env, http_inbox, tmp_path) -> None:
    """The receiver kills the sending process the moment the webhook arrives: delivered, not
    recorded. The next run says it may have gone out; --mark-sent records it, sending nothing."""
    out = tmp_path / "run"
    runbook = Path(sys.executable).with_name("runbook")
    process = subprocess.Popen([str(runbook), "notices", str(plan_file), "announcement",
                                "--send", "--channel", "hooks", "--outputs", str(out)],
                               env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    http_inbox.on_post = lambda: os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL
    assert len(http_inbox.posts) == 1
    assert [d.event for d in records(plan_file, out)] == ["notice-intent"]
    http_inbox.on_post = None
    next_run = run_cli("notices", plan_file, "announcement", "--send", "--channel", "hooks",
                       "--outputs", out, env=env)
    one_line_error(next_run, "outcome was never recorded", "may have gone out",
                   "--mark-sent", "--again")
    assert len(http_inbox.posts) == 1
    marked = run_cli("notices", plan_file, "announcement", "--send", "--channel", "hooks",
                     "--mark-sent", "--outputs", out, env=env)
    assert marked.returncode == 0, marked.stderr
    assert "recorded as sent to hooks (not sent now)" in marked.stdout
    assert len(http_inbox.posts) == 1
    assert [d.event for d in records(plan_file, out)] == ["notice-intent", "notice-marked"]
    refused = run_cli("notices", plan_file, "announcement", "--send", "--channel", "hooks",
                      "--outputs", out, env=env)
    one_line_error(refused, "already went to channel 'hooks'")


def test_without_send_nothing_is_recorded_or_kept(plan_file, env, tmp_path) -> None:
    out = tmp_path / "run"
    result = run_cli("notices", plan_file, "announcement", "--outputs", out, env=env)
    assert result.returncode == 0, result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_missing_secret_is_named_before_anything_is_sent(plan_file, env, smtp_inbox,
                                                           tmp_path) -> None:
    env = {k: v for k, v in env.items() if k != "HOOK_TOKEN"}
    result = run_cli("notices", plan_file, "announcement", "--send", "--outputs",
                     tmp_path / "run", env=env)
    one_line_error(result, "channel 'hooks': environment variable HOOK_TOKEN is not set")
    assert smtp_inbox.messages == []
    assert not (tmp_path / "run" / "events.sqlite").exists()


def test_a_channel_that_does_not_take_the_kind_is_refused(plan_file, env, tmp_path) -> None:
    text = plan_file.read_text().replace("depends_on: [sms]", "kinds: [in-progress]\n"
                                         "      depends_on: [sms]")
    plan_file.write_text(text)
    result = run_cli("notices", plan_file, "announcement", "--send", "--channel", "hooks",
                     "--outputs", tmp_path / "run", env=env)
    one_line_error(result, "channel 'hooks' does not receive announcement notices")


@pytest.mark.chromium
def test_the_email_html_part_reads_at_390_px(plan_file, env, smtp_inbox, tmp_path) -> None:
    from tests.browser import open_offline

    result = run_cli("notices", plan_file, "announcement", "--send", "--channel", "email",
                     "--outputs", tmp_path / "run", env=env)
    assert result.returncode == 0, result.stderr
    page_file = tmp_path / "email.html"
    page_file.write_text(smtp_inbox.messages[0].get_body(("html",)).get_content(),
                         encoding="utf-8")
    with open_offline(page_file, viewport=(390, 800)) as page:
        assert page.blocked == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.count("style") == 0          # inlined: mail clients drop <style>
        assert "Core <b>move</b>" in page.text


@pytest.mark.notebook
@pytest.mark.slow
def test_a_rehearsal_with_send_to_channels_delivers_each_notice_once(plan_file, env,
                                                                     http_inbox,
                                                                     monkeypatch,
                                                                     tmp_path) -> None:
    from migration_runbook.rehearsal import rehearse

    for name in ("SMTP_PORT", "HOOK_PORT", "HOOK_TOKEN"):
        monkeypatch.setenv(name, env[name])
    text = plan_file.read_text().replace(
        '    - id: email\n      url: "mailto://ops@127.0.0.1:${SMTP_PORT}?to=list@example.net'
        '&from=ops@example.net&mode=insecure"\n', "")
    plan_file.write_text(text)
    result = rehearse(plan_file, tmp_path / "rehearsal", report=False, send_to_channels=True)
    assert result.notice_failures == []
    titles = [post["body"]["title"] for post in http_inbox.posts]
    assert [t.split(":")[0] for t in titles] == [
        "Notify test migration", "Reminder", "In progress", "Completed"]
    recorded = records(plan_file, tmp_path / "rehearsal")
    assert [d.event for d in recorded].count("notice-sent") == 4
    assert {d.channel for d in recorded} == {"hooks"}


def test_exactly_once_holds_on_every_store(plan_file, store_url, tmp_path) -> None:
    """The check and the intent are one transaction on SQLite and on PostgreSQL alike."""
    plan = load_plan(plan_file)
    with events.open_log(plan, store=store_url) as log:
        done = delivery.send(plan, log, "announcement", channels=["hooks"], mark_sent=True)
        assert done.marked == ["hooks"]
        with pytest.raises(delivery.DeliveryError, match="already went to channel 'hooks'"):
            delivery.send(plan, log, "announcement", channels=["hooks"], mark_sent=True)
        assert [d.event for d in delivery.deliveries(log.events())] == ["notice-marked"]
        assert log.verify().ok
