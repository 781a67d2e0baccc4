"""Palette: Okabe–Ito colours, one meaning each, hue and pattern, CSS in step with Python."""

from __future__ import annotations

import re

from migration_runbook import palette
from migration_runbook.plan import LEVELS


def test_every_level_and_outcome_has_its_own_colour_and_its_own_pattern() -> None:
    swatches = [*palette.IMPACT.values(), *palette.OUTCOME.values()]
    assert set(palette.IMPACT) == set(LEVELS)
    colours = [s.colour for s in swatches]
    assert len(set(colours)) == len(colours), "a colour with two meanings"
    assert len({s.pattern for s in palette.IMPACT.values()}) == len(palette.IMPACT)
    assert len({s.pattern for s in palette.OUTCOME.values()}) == len(palette.OUTCOME)
    allowed = {*palette.OKABE_ITO.values(), palette.GREY}
    assert set(colours) <= allowed


def test_the_stylesheet_declares_exactly_the_palette() -> None:
    css = palette.STYLESHEET.read_text()
    declared = dict(re.findall(r"(--[a-z-]+):\s*(#[0-9A-Fa-f]{6});", css))
    assert declared == palette.css_variables()
    for key in palette.IMPACT:
        assert f".swatch.impact-{key}" in css
    for key in palette.OUTCOME:
        assert f".swatch.outcome-{key}" in css
