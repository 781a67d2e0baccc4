"""The cyclic garbage collector, paused around bulk reads.

Reading a large plan or event log allocates hundreds of thousands of small, long-lived,
acyclic objects (YAML nodes, dicts, models, events), and every few thousand of them set off
another collection that walks all the ones before: about half the time of loading a
1,000-phase plan. Pausing the collector for the read, and restoring it as it was, leaves
the caller's process as it found it; anything cyclic made meanwhile is collected at the
collector's next run.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Disable the collector inside the block; re-enable it after only if it was enabled."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
