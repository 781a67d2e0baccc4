"""collector.paused: the garbage collector off inside, left as it was found after."""

from __future__ import annotations

import gc

import pytest

from migration_runbook import collector


def test_the_collector_is_paused_inside_and_enabled_again_after():
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_restores_the_collector():
    with pytest.raises(ValueError), collector.paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_the_caller_disabled_stays_disabled():
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_loading_a_plan_leaves_the_collector_as_it_was(example_plan):
    from migration_runbook.plan import load_plan

    load_plan(example_plan)
    assert gc.isenabled()
