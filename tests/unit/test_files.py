import pytest

from migration_runbook.errors import OutputError
from migration_runbook.files import write_atomic


def test_write_atomic_leaves_nothing_behind_on_failure(tmp_path) -> None:
    target = tmp_path / "missing" / "notice.txt"
    with pytest.raises(OutputError, match="no such folder"):
        write_atomic(target, "x")
    assert not target.parent.exists()
    (tmp_path / "folder").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        write_atomic(tmp_path / "folder", "x")
    write_atomic(tmp_path / "ok.txt", "hello")
    assert (tmp_path / "ok.txt").read_text() == "hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "ok.txt"]


def test_write_atomic_replaces_a_file_whole(tmp_path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_write_atomic_under_a_file_is_one_line(tmp_path) -> None:
    # A path under a regular file cannot be written, even by root (chmod would not stop root).
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputError, match="cannot write") as err:
        write_atomic(tmp_path / "plain" / "x.txt", "x")
    assert "\n" not in str(err.value)
