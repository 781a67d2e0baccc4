"""One palette for every chart, notice and page: Okabe–Ito colours, each with one meaning.

The Okabe–Ito set stays distinct for the common colour-vision deficiencies; on top of that
every impact level and every outcome has its own bar pattern (plotly `marker.pattern.shape`),
so a reader who cannot tell two hues apart, or a grey printout, still can. The same values are
written as CSS custom properties in `templates/palette.css` for the HTML pages; a test keeps the
two in step. Red-against-green is never used to mean good/bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky-blue": "#56B4E9", "bluish-green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish-purple": "#CC79A7",
}
"""Okabe & Ito (2008), 'Color Universal Design': the eight colours, by their names."""

GREY = "#BBBBBB"
INK = "#1D2329"
"""Text and lines that carry no category (the as-of line, rollback deadlines)."""


@dataclass(frozen=True)
class Swatch:
    """How one category is drawn: fill colour, plotly pattern shape ('' for solid), and an
    outline so that pale fills (yellow, grey) still show their edge on white."""

    colour: str
    pattern: str
    outline: str = INK

    def marker(self, opacity: float = 1.0) -> dict:
        """A plotly bar `marker` dict for this swatch."""
        return dict(color=self.colour, opacity=opacity, line=dict(width=1, color=self.outline),
                    pattern=dict(shape=self.pattern, fgcolor=INK, fgopacity=0.55, size=7,
                                 solidity=0.3))


IMPACT = {
    "unavailable": Swatch(OKABE_ITO["vermillion"], "x"),
    "degraded": Swatch(OKABE_ITO["orange"], "/"),
    "delayed": Swatch(OKABE_ITO["yellow"], "."),
    "unaffected": Swatch(GREY, "", outline="#888888"),
}
"""Impact levels, worst first: vermillion crossed, orange hatched, yellow dotted, plain grey."""

OUTCOME = {
    "completed": Swatch(OKABE_ITO["bluish-green"], ""),
    "rolled-back": Swatch(OKABE_ITO["reddish-purple"], "\\"),
    "in-progress": Swatch(OKABE_ITO["blue"], "-"),
    "rolling-back": Swatch(OKABE_ITO["sky-blue"], "|"),
}
"""Outcomes of actual attempts: green solid, purple back-hatched, blue lined, sky-blue barred.
No outcome shares a hue with an impact level."""

NOW = INK
DEADLINE = INK
STYLESHEET = Path(__file__).parent / "templates" / "palette.css"
"""The shared stylesheet: a Jinja2 page includes it inside its <style> element
(`include "palette.css"`), as templates/gantt.html.j2 does."""


def css_name(kind: str, key: str) -> str:
    """The CSS custom property of a category: `--impact-unavailable`, `--outcome-completed`."""
    return f"--{kind}-{key}"


def css_variables() -> dict[str, str]:
    """Every colour as the custom properties `templates/palette.css` declares."""
    out = {css_name("impact", k): s.colour for k, s in IMPACT.items()}
    out.update({css_name("outcome", k): s.colour for k, s in OUTCOME.items()})
    out.update({"--ink": INK, "--grey": GREY, "--now": NOW, "--deadline": DEADLINE})
    return out
