"""The test PostgreSQL server's own rules: skipped locally without it, a failure in CI."""

from __future__ import annotations

import pytest

from tests import postgres


def test_a_missing_server_is_skipped_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL not available: no initdb"):
        postgres.missing("no initdb")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_a_missing_server_fails_in_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL is required in CI: no initdb"):
        postgres.missing("no initdb")


def test_the_binaries_are_found_on_path_or_in_debian_s_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))           # nothing on PATH
    found = postgres.find_bindir()
    assert found is None or (found / "initdb").exists() and (found / "pg_ctl").exists()
    for name in ("initdb", "pg_ctl"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    assert postgres.find_bindir() == tmp_path
