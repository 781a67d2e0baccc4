"""`runbook review`: the plan-review notebook, executed and exported as one offline page.

Weeks before the night, reviewers read the plan as a page: runbooks/plan.ipynb is run with
papermill (through `execute.run`, like every runbook notebook) and exported with the project's
offline nbconvert template (templates/report/: no require.js, MathJax, mermaid or any remote
script; plotly.js inlined once; no code cells). Both files are written whole or not at all.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import RunbookError
from .files import check_writable, write_atomic
from .plan import Plan

HTML_NAME = "plan-review.html"
"""The page's name in the run folder when no `-o` is given."""


def default_output(plan: Plan) -> Path:
    """outputs/<plan id>/plan-review.html: beside the run's other outputs."""
    from .events import default_outputs

    return default_outputs(plan) / HTML_NAME


def export_html(notebook: Any, title: str) -> str:
    """The executed plan notebook as one offline page (the report's template and stylesheet).

    The notebook's first figure already carries plotly.js (`timeline.show`), so the page's
    head gets a copy only when no output has one: the page holds plotly.js exactly once.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from plotly.offline import get_plotlyjs

    from .report import TEMPLATE, TEMPLATES, report_css

    nb = nbformat.from_dict(notebook) if isinstance(notebook, dict) else notebook
    plotly_js = get_plotlyjs()
    marker = plotly_js[:40]
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    carried = any(marker in str(o.get("data", {}).get("text/html", ""))
                  for c in nb.cells for o in c.get("outputs", []))
    nb.metadata["title"] = title
    exporter = HTMLExporter(template_name=TEMPLATE, extra_template_basedirs=[str(TEMPLATES)],
                            exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={
        "plotly_js": "" if carried else plotly_js, "report_css": report_css()})
    return body


def review(plan: Plan, output: str | os.PathLike[str] | None = None, tz: str | None = None,
           ) -> Path:
    """Execute runbooks/plan.ipynb on `plan` and write the page to `output`; its path.

    The executed notebook is kept beside the page (`.ipynb`). A notebook that fails raises
    the notebook's one-line error and writes neither file.
    """
    import nbformat

    from . import execute

    if not plan.source:
        raise RunbookError(f"plan '{plan.id}' has no file to give the plan notebook")
    target = Path(output) if output else default_output(plan)
    if output is None:
        target.parent.mkdir(parents=True, exist_ok=True)
    check_writable(target)
    fd, name = tempfile.mkstemp(prefix=".plan-review.", suffix=".ipynb", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        execute.run("plan", tmp, {"plan": str(Path(plan.source).resolve()), "tz": tz or ""})
        executed = nbformat.read(tmp, as_version=4)
        write_atomic(target, export_html(executed, f"{plan.title}: plan review"))
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target.with_suffix(".ipynb"))
    finally:
        tmp.unlink(missing_ok=True)
    return target
