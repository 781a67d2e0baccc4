"""HTML views from Jinja2 templates: the report's sections and the phase notebook's blocks.

The notices and the status page were already templates; the report and the notebooks built
their HTML from Python strings, each with its own escaping. Here they share one environment
with autoescape on, so text from the plan or the log is escaped in one place and the look
can change in `templates/report/` and `templates/phase/` without touching Python. A table
cell is a value (escaped), or one of the small cell types below, which the macros in
`templates/_cells.html.j2` draw.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup


@dataclass(frozen=True)
class Badge:
    """A coloured label: `kind` is the CSS modifier (ok, bad, warn, muted, a level)."""

    text: Any
    kind: str


@dataclass(frozen=True)
class Lines:
    """Several lines in one cell (empty parts dropped)."""

    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Link:
    """A link to a file next to the page."""

    href: str
    label: str


def shown(value: Any) -> Any:
    """What `{{ value }}` prints: nothing for None and for pandas' missing values."""
    if value is None:
        return ""
    try:
        import pandas as pd

        if not isinstance(value, list | dict | tuple) and pd.isna(value):
            return ""
    except (TypeError, ValueError, ImportError):
        pass
    return value


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The package's templates, autoescaped; missing variables are errors, not blanks."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("migration_runbook", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, finalize=shown, trim_blocks=True, lstrip_blocks=True)
    env.tests.update(badge=lambda v: isinstance(v, Badge), lines=lambda v: isinstance(v, Lines),
                     link=lambda v: isinstance(v, Link))
    return env


def render(name: str, **context: Any) -> Markup:
    """Template `name` (relative to templates/) rendered with `context`, as safe markup."""
    return Markup(environment().get_template(name).render(**context).strip())
