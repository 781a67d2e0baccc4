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


def test_a_notebook_checkpoint_is_written_whole_by_write_atomic(tmp_path) -> None:
    """`execute.save_checkpoint` (before each cell of the phase notebook) writes as every
    other output does: whole, nothing left beside it, a link followed, one line on failure."""
    import nbformat

    from migration_runbook.execute import save_checkpoint

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    real = tmp_path / "kept" / "001-go.ipynb"
    real.parent.mkdir()
    link = tmp_path / "001-go.ipynb"
    link.symlink_to(real)
    save_checkpoint(nb, link)
    assert link.is_symlink() and nbformat.reads(real.read_text(), 4).cells[0].source == "1 + 1"
    nb.cells.append(nbformat.v4.new_markdown_cell("two"))
    save_checkpoint(nb, link)
    assert len(nbformat.reads(real.read_text(), 4).cells) == 2
    assert sorted(p.name for p in real.parent.iterdir()) == ["001-go.ipynb"]
    missing = tmp_path / "gone" / "002-start.ipynb"
    with pytest.raises(OutputError) as caught:
        save_checkpoint(nb, missing)
    assert str(caught.value) == (f"{missing}: cannot write the executed notebook "
                                 f"({missing.parent} no such folder)")
