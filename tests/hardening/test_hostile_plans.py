"""Hostile plans: whatever a plan file holds, loading it gives a valid model or a clean refusal.

Property-based (hypothesis): the example plan is mutated as data (keys dropped, renamed,
duplicated, values of the wrong type, random unicode) and as text (lines deleted, duplicated,
re-indented, random characters and bytes inserted, cut short). `load_plan` must return a
`Plan` or raise a `RunbookError` whose lines are single lines naming the file; anything else
(a `KeyError`, a `RecursionError`, a hang) fails the test. A sample goes through the real
`runbook validate` too. Then the classic attacks on YAML loaders: huge files, pipes and
devices, deep nesting, alias bombs, and tags that construct Python objects.
"""

from __future__ import annotations

import copy
import os
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from migration_runbook.errors import PlanInvalid, RunbookError
from migration_runbook.plan import MAX_PLAN_BYTES, Plan, load_plan, phases_frame, schedule_rows
from tests.conftest import EXAMPLE
from tests.hardening.conftest import (
    assert_clean_refusal,
    dump,
    example_data,
    runbook,
    time_limit,
)

EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
BASE = example_data()
HYPOTHESIS = settings(deadline=timedelta(seconds=5), derandomize=False,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def loads_or_refuses(path: Path) -> Plan | RunbookError:
    """The one allowed outcome of loading any file: a Plan, or a RunbookError told in lines.

    Any other exception propagates and fails the test; `time_limit` turns a hang into a
    failure too.
    """
    with time_limit(20):
        try:
            plan = load_plan(path)
        except RunbookError as exc:
            lines = exc.lines()
            assert lines, "a refusal must say why"
            for line in lines:
                assert line.strip(), lines
                assert len(line.splitlines()) == 1, f"not one line: {line!r}"
                assert line.startswith(str(path)), line
                assert "Traceback" not in line
            assert isinstance(exc, PlanInvalid), type(exc)
            return exc
        # A plan that loads is a plan everything downstream can use.
        for phase in plan.phases:
            assert phase.start.utcoffset() == timedelta(0) and phase.start.tzinfo is not None
            assert phase.end > phase.start
        assert len(schedule_rows(plan)) == len(plan.phases)
        assert len(phases_frame(plan)) == len(plan.phases)
        return plan


# --- mutating the example as data --------------------------------------------------------

WEIRD_TEXT = st.sampled_from([
    "", " ", "-1", "0", "45m", "PT45M", "1h30m", "-30m", "99999999h", "2020-09-07 21:00",
    "2020-02-30 25:61", "2021-09-26 02:30", "2021-04-04 02:30", "2020-09-07T21:00+05:00",
    "Pacific/Auckland", "Mars/Olympus", "../../etc/passwd", "unavailable", "catastrophic",
    "carrier-connections", "messaging-core", "api", "<script>window.__pwned=1</script>",
    "1e309", "nan", ".inf", "~", "yes", "on", "\u202egnp.exe", "\x00", "\ufeff", "🚀" * 50,
    "a" * 20000, "'; DROP TABLE events; --",
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), WEIRD_TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.one_of(st.text(max_size=10), st.sampled_from(["id", "name", "start", "end",
                                                         "level", "plan", "duration"])),
        inner, max_size=3),
    max_leaves=6,
)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, prefix + (i,))
    return out


def _parent(data: object, path: tuple) -> object:
    for part in path[:-1]:
        data = data[part]
    return data


def _mutate(data: dict, draw) -> dict:
    """One mutation of `data` (a deep copy), chosen and filled in by `draw`."""
    paths = [p for p in _paths(data) if p]
    path = draw(st.sampled_from(paths))
    parent, key = _parent(data, path), path[-1]
    op = draw(st.sampled_from(["replace", "delete", "duplicate", "rename", "wrap", "stringify",
                               "empty"]))
    if op == "replace":
        parent[key] = draw(VALUES)
    elif op == "delete":
        del parent[key]
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[draw(st.text(min_size=1, max_size=12))] = copy.deepcopy(parent[key])
    elif op == "rename" and isinstance(parent, dict):
        new = draw(st.one_of(st.text(max_size=12), st.just(str(key).upper()),
                             st.just(f"{key}s"), st.just(f" {key}")))
        parent[new] = parent.pop(key)
    elif op == "wrap":
        parent[key] = [parent[key]]
    elif op == "stringify":
        parent[key] = str(parent[key])
    else:
        parent[key] = type(parent[key])() if isinstance(parent[key], list | dict | str) \
            else None
    return data


@settings(HYPOTHESIS, max_examples=400)
@given(st.data())
def test_mutated_plan_data_loads_or_is_refused_in_lines(scratch, data):
    plan = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(min_value=1, max_value=5), label="mutations")):
        plan = _mutate(plan, data.draw)
    path = scratch / "mutated-data.yaml"
    path.write_text(dump(plan), encoding="utf-8")
    loads_or_refuses(path)


# --- mutating the example as text ----------------------------------------------------------

LINES = EXAMPLE_TEXT.splitlines(keepends=True)
ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
YAML_BITS = st.sampled_from([":", "- ", "  ", "\t", "&a ", "*a", "<<: *a", "!!str ", "!!int ",
                             "? ", "|", ">", "#", "'", '"', "{", "}", "[", "]", ",", "---\n",
                             "...\n", "%YAML 1.1\n", "!!python/object/apply:os.system [id]",
                             "\r", "\u2028", "\x85", "\ufeff", "\x00", "\x1b[31m"])


@settings(HYPOTHESIS, max_examples=400)
@given(st.data())
@example(data=None)  # the example itself, unmutated, must load
def test_mutated_plan_text_loads_or_is_refused_in_lines(scratch, data):
    lines = list(LINES)
    raw: bytes | None = None
    steps = data.draw(st.integers(min_value=1, max_value=4), label="mutations") if data else 0
    for _ in range(steps):
        i = data.draw(st.integers(min_value=0, max_value=max(len(lines) - 1, 0)), label="line")
        op = data.draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "insert",
                                        "bits", "swap", "truncate", "bytes"]))
        if not lines:
            lines = [""]
        line = lines[i]
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, line)
        elif op == "indent":
            lines[i] = data.draw(st.sampled_from([" ", "  ", "\t", "      "])) + line
        elif op == "dedent":
            lines[i] = line[data.draw(st.integers(min_value=1, max_value=4)):] or "\n"
        elif op in ("insert", "bits"):
            at = data.draw(st.integers(min_value=0, max_value=len(line)))
            bit = data.draw(ANY_TEXT if op == "insert" else YAML_BITS)
            lines[i] = line[:at] + bit + line[at:]
        elif op == "swap":
            j = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "truncate":
            lines[i] = line[:data.draw(st.integers(min_value=0, max_value=len(line)))]
            del lines[i + 1:]
        else:
            encoded = "".join(lines).encode("utf-8", errors="surrogateescape")
            at = data.draw(st.integers(min_value=0, max_value=len(encoded)))
            raw = encoded[:at] + data.draw(st.binary(min_size=1, max_size=8)) + encoded[at:]
            lines = raw.decode("utf-8", errors="surrogateescape").splitlines(keepends=True)
    path = scratch / "mutated-text.yaml"
    text = "".join(lines)
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    outcome = loads_or_refuses(path)
    if data is None:
        assert isinstance(outcome, Plan)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_runbook_validate_reports_exactly_what_the_loader_finds(scratch, data):
    """A sample through the real command: exit 0 iff it loads, else the same lines, exit 1."""
    plan = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        plan = _mutate(plan, data.draw)
    path = scratch / "validate-me.yaml"
    path.write_text(dump(plan), encoding="utf-8")
    outcome = loads_or_refuses(path)
    result = runbook("validate", path, timeout=60)
    if isinstance(outcome, Plan):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    else:
        assert_clean_refusal(result, lines=None)
        assert result.stderr.splitlines() == outcome.lines()


# --- size ----------------------------------------------------------------------------------

def test_a_plan_over_5_mib_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "huge.yaml"
    padding = "# " + "x" * 1000 + "\n"
    path.write_text(EXAMPLE_TEXT + padding * (MAX_PLAN_BYTES // len(padding) + 1))
    started = time.perf_counter()
    err = assert_clean_refusal(runbook("validate", path))
    assert err == f"{path}: plan is {path.stat().st_size // 1024} KiB; the limit is 5 MiB"
    assert time.perf_counter() - started < 10


def test_a_plan_just_under_the_limit_still_loads(tmp_path):
    path = tmp_path / "padded.yaml"
    padding = "# " + "x" * 1000 + "\n"
    body = EXAMPLE_TEXT + padding * ((MAX_PLAN_BYTES - len(EXAMPLE_TEXT)) // len(padding) - 1)
    path.write_text(body)
    assert path.stat().st_size <= MAX_PLAN_BYTES
    assert isinstance(loads_or_refuses(path), Plan)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_that_never_ends_is_refused_not_read_forever(device):
    """Devices and pipes have no size to check up front: the read itself is bounded."""
    started = time.perf_counter()
    err = assert_clean_refusal(runbook("validate", device, timeout=60))
    assert err.startswith(f"{device}: ")
    assert "limit of 5 MiB" in err or "not UTF-8" in err or "not allowed" in err
    assert time.perf_counter() - started < 20


def test_an_endless_pipe_is_refused_at_the_limit(tmp_path):
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    stop = threading.Event()

    def feed() -> None:
        try:
            with open(fifo, "w") as pipe:
                while not stop.is_set():
                    pipe.write("a: b\n" * 10000)
        except (BrokenPipeError, OSError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        with time_limit(30):
            with pytest.raises(PlanInvalid) as refused:
                load_plan(fifo)
    finally:
        stop.set()
    assert str(refused.value) == f"{fifo}: plan is larger than the limit of 5 MiB"


def test_a_plan_of_many_tiny_nodes_is_refused_quickly(tmp_path):
    """5 MiB of `[1,1,1,...]` is 2.6 million nodes: refused while parsing, not after."""
    path = tmp_path / "many.yaml"
    path.write_text("[" + "1," * ((MAX_PLAN_BYTES - 10) // 2) + "]")
    started = time.perf_counter()
    with time_limit(30), pytest.raises(PlanInvalid) as refused:
        load_plan(path)
    assert str(refused.value).endswith("plan is too large to be a migration plan")
    assert time.perf_counter() - started < 5


def test_a_plan_of_many_keys_is_refused_quickly(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"k{i}: v\n" for i in range(400_000)))
    assert path.stat().st_size < MAX_PLAN_BYTES
    started = time.perf_counter()
    with time_limit(30), pytest.raises(PlanInvalid) as refused:
        load_plan(path)
    assert "too large" in str(refused.value)
    assert time.perf_counter() - started < 5


# --- nesting and aliases ---------------------------------------------------------------------

@pytest.mark.parametrize("depth", [40, 500, 50_000])
@pytest.mark.parametrize("shape", ["flow-seq", "flow-map", "block-map", "block-seq"])
def test_deeply_nested_yaml_is_refused_with_a_clear_message(tmp_path, shape, depth):
    text = {
        "flow-seq": lambda n: "[" * n + "]" * n,
        "flow-map": lambda n: "{a: " * n + "1" + "}" * n,
        "block-map": lambda n: "".join("  " * i + "a:\n" for i in range(min(n, 1100))),
        "block-seq": lambda n: "".join("  " * i + "-\n" for i in range(min(n, 1100))),
    }[shape](depth)
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    with time_limit(10):
        outcome = loads_or_refuses(path)
    assert isinstance(outcome, RunbookError)
    assert re.search(r"nested too deeply|maximum nesting depth", str(outcome)), str(outcome)


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("text", [
    BILLION_LAUGHS,
    # inside a real plan, under a key the loader would otherwise report as unknown
    EXAMPLE_TEXT.replace("revision: 2", "x-bomb: {" + ", ".join(
        BILLION_LAUGHS.strip().splitlines()) + "}\nrevision: 2"),
    # quadratic: one big anchor repeated many times
    "a: &a [" + ",".join(["x"] * 2000) + "]\nb: [" + ",".join(["*a"] * 2000) + "]\n",
    # self-reference
    "a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a {<<: *a}\n",
], ids=["billion-laughs", "inside-a-plan", "quadratic", "self-seq", "self-map", "self-merge"])
def test_alias_bombs_are_refused_quickly(tmp_path, text):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    started = time.perf_counter()
    outcome = loads_or_refuses(path)
    assert isinstance(outcome, RunbookError)
    assert re.search(r"too large|nested too deeply", str(outcome)), str(outcome)
    assert time.perf_counter() - started < 3


def test_the_billion_laughs_through_the_cli_is_one_line(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    err = assert_clean_refusal(runbook("validate", path))
    assert err == f"{path}:1: plan is too large to be a migration plan"


# --- YAML that builds Python objects -------------------------------------------------------

PYTHON_TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/apply:subprocess.check_call [['touch', '{marker}']]",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/object/apply:builtins.exec [\"open('{marker}', 'w')\"]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!python/object/apply:os.system ['touch {marker}']",
    "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {marker}']",
]
WHERE = {
    "title": lambda v: EXAMPLE_TEXT.replace("title: Omni hosting provider migration",
                                            f"title: {v}"),
    "rollback plan": lambda v: EXAMPLE_TEXT.replace("      plan: >\n        Re-point",
                                                    f"      plan: {v}\n      x: >\n        Re",
                                                    1),
    "a key": lambda v: EXAMPLE_TEXT.replace("revision: 2", f"? {v}\n: 1\nrevision: 2"),
    "a merge": lambda v: EXAMPLE_TEXT.replace("revision: 2", f"<<: {v}\nrevision: 2"),
    "a list item": lambda v: EXAMPLE_TEXT.replace("    depends_on: []",
                                                  f"    depends_on:\n      - {v}", 1),
    "the whole document": lambda v: f"--- {v}\n",
}


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("tag", PYTHON_TAGS)
def test_yaml_that_constructs_python_objects_is_refused_and_runs_nothing(tmp_path, tag, where):
    marker = tmp_path / "PWNED"
    path = tmp_path / "plan.yaml"
    path.write_text(WHERE[where](tag.format(marker=marker)))
    outcome = loads_or_refuses(path)
    assert isinstance(outcome, RunbookError)
    assert not marker.exists()
    assert re.search(r"YAML tag '[^']*python[^']*' is not allowed|key must be a plain name|"
                     r"'<<' merges mappings only",
                     str(outcome)), str(outcome)


def test_the_cli_refuses_a_python_tag_in_one_line_per_problem_and_runs_nothing(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "plan.yaml"
    path.write_text(EXAMPLE_TEXT.replace(
        "title: Omni hosting provider migration",
        f"title: !!python/object/apply:os.system ['touch {marker}']"))
    for command in (["validate", path], ["schedule", path], ["ics", path, "-o",
                                                             tmp_path / "x.ics"]):
        err = assert_clean_refusal(runbook(*command))
        assert "YAML tag '!!python/object/apply:os.system' is not allowed" in err
        assert not marker.exists()
    assert not (tmp_path / "x.ics").exists()


def test_no_module_loads_yaml_unsafely_or_evaluates_text():
    """Safe loading only, and no eval/exec of anything: a guard against regressions."""
    src = Path(__file__).resolve().parents[2] / "src" / "migration_runbook"
    banned = re.compile(r"yaml\.(load|load_all|unsafe_load|full_load)\s*\(|FullLoader|"
                        r"UnsafeLoader|yaml\.Loader\b|(?<![\w.])(eval|exec)\s*\(|pickle|"
                        r"shell\s*=\s*True|os\.system\(")
    found = [f"{p.name}:{n}: {line.strip()}" for p in sorted(src.rglob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if banned.search(line)]
    assert found == []


# --- unicode, encodings and odd files ------------------------------------------------------

@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe" + EXAMPLE_TEXT.encode("utf-16-le"), "is not UTF-8 text"),
    (EXAMPLE_TEXT.encode("utf-8").replace(b"Omni hosting", b"Omni \xe9 hosting", 1),
     "is not UTF-8 text"),
    (EXAMPLE_TEXT.encode("utf-8").replace(b"title: Omni", b"title: Om\x00ni", 1),
     "not allowed in a plan"),
    (EXAMPLE_TEXT.encode("utf-8").replace(b"title: Omni", b"title: Om\x1bni", 1),
     "not allowed in a plan"),
    (b"", "plan is empty"),
    (b"# only a comment\n", "plan is empty"),
    (b"---\n...\n", "a plan must be a mapping"),
    (EXAMPLE_TEXT.encode() + b"\n---\nid: second\n", "YAML: "),
])
def test_odd_bytes_are_refused_in_one_line(tmp_path, content, expected):
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    outcome = loads_or_refuses(path)
    assert isinstance(outcome, RunbookError)
    assert expected in str(outcome)


def test_a_bom_and_crlf_line_ends_are_fine(tmp_path):
    path = tmp_path / "windows.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE_TEXT.replace("\n", "\r\n").encode("utf-8"))
    assert isinstance(loads_or_refuses(path), Plan)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
               max_size=80))
@settings(HYPOTHESIS, max_examples=150)
def test_any_unicode_in_free_text_is_kept_or_refused_never_crashes(scratch, text):
    """Names, details, owners and rollback plans take any text; what loads is kept as typed."""
    plan = copy.deepcopy(BASE)
    plan["title"] = text
    plan["phases"][0]["name"] = text
    plan["phases"][0]["impacts"][0]["detail"] = text
    plan["phases"][0]["steps"][0]["owner"] = text
    plan["phases"][0]["rollback"]["plan"] = text
    plan["services"][0]["name"] = text
    path = scratch / "unicode.yaml"
    path.write_text(dump(plan), encoding="utf-8")
    outcome = loads_or_refuses(path)
    if isinstance(outcome, Plan):
        assert outcome.title == outcome.phases[0].name == outcome.services[0].name
        assert outcome.phases[0].steps[0].owner == outcome.phases[0].rollback.plan
        # What YAML means by the text is kept; only surrounding whitespace goes.
        meant = yaml.safe_load(path.read_text(encoding="utf-8"))["title"]
        assert outcome.title == str(meant).strip()


def test_loading_the_example_is_quick_enough_for_hypothesis():
    started = time.perf_counter()
    for _ in range(20):
        load_plan(EXAMPLE)
    assert (time.perf_counter() - started) / 20 < 0.5


@pytest.mark.parametrize("escape", ["\\e[2J", "\\e]0;retitled\\a", "\\e[1A\\e[2K", "\\x9b31m",
                                    "\\x00", "\\b\\b\\b", "\\r"])
@pytest.mark.parametrize("field", ["title", "name", "a key"])
def test_control_characters_written_as_yaml_escapes_are_refused(tmp_path, escape, field):
    """YAML refuses raw control characters but builds them from escapes in double quotes;
    they would reach the operator's terminal, the notices and the calendar as escape codes."""
    text = {
        "title": EXAMPLE_TEXT.replace("title: Omni hosting provider migration",
                                      f'title: "Omni {escape} migration"'),
        "name": EXAMPLE_TEXT.replace("name: Carrier Connection Migrations",
                                     f'name: "Carrier {escape} Migrations"'),
        "a key": EXAMPLE_TEXT.replace("revision: 2", f'revision: 2\n"x{escape}": 1'),
    }[field]
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    err = assert_clean_refusal(runbook("validate", path))
    label = {"title": "title", "name": "name", "a key": "a key in plan"}[field]
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+:( phase 'carrier-connections':)? "
                        rf"{label}: control character U\+00[0-9A-F]{{2}} is not allowed in a "
                        "plan", err), err
    assert "\x1b" not in err and "\x9b" not in err


def test_tabs_and_newlines_in_text_are_still_fine(tmp_path):
    data = copy.deepcopy(BASE)
    data["title"] = "Omni\thosting migration"
    data["phases"][0]["rollback"]["plan"] = "two\nlines"
    path = tmp_path / "plan.yaml"
    path.write_text(dump(data))
    plan = loads_or_refuses(path)
    assert isinstance(plan, Plan) and plan.title == "Omni\thosting migration"
    assert plan.phases[0].rollback.plan == "two\nlines"
