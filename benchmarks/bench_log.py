"""Benchmark setup: an event log written as a valid hash chain in one transaction.

`EventLog.record` fsyncs every record and checks it against the state machine, which is right
for an operator and far too slow to set up a log of 20,000 events; this writes the same rows
(the current schema, each record's hash over the previous one) in one transaction, then checks
the chain with `verify` as `runbook verify` would. Setup, never what a benchmark measures.
Shared by `run.py` (status with steps) and `bench_status.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy

from migration_runbook import times
from migration_runbook.events import canonical_json, open_log, record_hash, stamp
from migration_runbook.store import GENESIS, SCHEMA_VERSION, events, meta, metadata, plans


class BrokenChain(RuntimeError):
    """The written log does not verify: the benchmark's setup is wrong, not the code."""


def write_chain(plan: Any, folder: Path,
                records: Iterable[tuple[str, str, datetime, str, dict[str, Any]]]) -> int:
    """Write `records` (phase, event, at, reason, details) by operator "bench" with source
    "rehearsal" into a new log in `folder` (created); the number of records written."""
    folder.mkdir(parents=True)
    log = open_log(plan, folder)
    engine = log.store.engine
    metadata.create_all(engine)
    rows, previous, recorded = [], GENESIS, times.now()
    for seq, (phase, name, at, reason, details) in enumerate(records, start=1):
        row = {"seq": seq, "plan": plan.id, "phase": phase, "event": name, "operator": "bench",
               "reason": reason, "at": stamp(at), "recorded_at": stamp(recorded),
               "source": "rehearsal", "notebook": "", "details": canonical_json(details),
               "prev_hash": previous}
        row["hash"] = previous = record_hash(row)
        rows.append(row)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.insert(meta), [{"key": "schema_version",
                                                "value": str(SCHEMA_VERSION)},
                                               {"key": "plan", "value": plan.id}])
        conn.execute(sqlalchemy.insert(plans).values(id=plan.id, last_seq=len(rows),
                                                     last_hash=previous,
                                                     created_at=stamp(recorded)))
        conn.execute(sqlalchemy.insert(events), rows)
    result = log.verify()
    log.close()
    if not result.ok:
        raise BrokenChain(f"setup wrote a broken chain: {result.message}")
    return len(rows)
