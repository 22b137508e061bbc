"""Atomic writes: nothing half-written under the final name, and no temporary file left
behind, even one of a writer killed outright."""
import pytest

from arseg.io import atomic


def test_a_write_removes_the_temporary_file_a_killed_writer_of_the_same_file_left(tmp_path):
    stale = tmp_path / ".val.npy.k1ll3d.tmp.npy"  # what a SIGKILLed atomic_path(..., ".tmp.npy") leaves
    other = tmp_path / ".train.npy.k1ll3d.tmp.npy"  # another file's: not this write's business
    longer = tmp_path / ".val.npy.x.k1ll3d.tmp.npy"  # nor that of val.npy.x, whose name starts alike
    for path in (stale, other, longer):
        path.write_bytes(b"half")
    with atomic.atomic_path(tmp_path / "val.npy", suffix=".tmp.npy") as tmp:
        tmp.write_bytes(b"whole")
    assert (tmp_path / "val.npy").read_bytes() == b"whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([other.name, longer.name, "val.npy"])


def test_a_folder_is_listed_once_however_many_files_are_written_into_it(tmp_path, monkeypatch):
    (tmp_path / ".b.tsv.k1ll3d.tsv.tmp").write_text("half")  # a killed writer's, found by the one listing
    listed = []
    scandir = atomic.os.scandir
    monkeypatch.setattr(atomic.os, "scandir", lambda folder: listed.append(folder) or scandir(folder))
    for name in "abcdefgh":
        atomic.write_text(tmp_path / f"{name}.tsv", name)
    assert listed == [str(tmp_path)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.tsv" for name in "abcdefgh"]


def test_a_failed_write_leaves_neither_the_file_nor_its_temporary(tmp_path):
    with pytest.raises(RuntimeError), atomic.atomic_path(tmp_path / "out.tsv") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_a_written_file_has_the_mode_the_umask_gives(tmp_path, monkeypatch):
    """Not the private 0600 of the temporary file it was written as."""
    import os
    import stat

    current = os.umask(0o022)
    os.umask(current)
    assert atomic._UMASK == current
    for mask, mode in ((0o022, 0o644), (0o027, 0o640)):
        monkeypatch.setattr(atomic, "_UMASK", mask)  # what the module read of the umask on import
        atomic.write_text(tmp_path / f"{mask}.tsv", "x\n")
        assert stat.S_IMODE((tmp_path / f"{mask}.tsv").stat().st_mode) == mode


def test_atomic_dir_replaces_a_folder_whole_or_not_at_all(tmp_path):
    folder = tmp_path / "cuts"
    (tmp_path / ".cuts.k1ll3d.tmp").mkdir()  # what a writer killed outright left
    (tmp_path / ".cuts.k1ll3d.tmp" / "a.wav").write_text("stale")
    with atomic.atomic_dir(folder) as staging:
        (staging / "a.wav").write_text("first")
        (staging / "b.wav").write_text("first")
    assert sorted(p.name for p in folder.iterdir()) == ["a.wav", "b.wav"]
    assert oct(folder.stat().st_mode & 0o777) != oct(0o700)  # not left private as mkdtemp makes it
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_dir(folder) as staging:
            (staging / "c.wav").write_text("second")
            raise KeyboardInterrupt
    assert sorted(p.name for p in folder.iterdir()) == ["a.wav", "b.wav"]  # the earlier folder, as it was
    with atomic.atomic_dir(folder) as staging:
        (staging / "c.wav").write_text("third")
    assert sorted(p.name for p in folder.iterdir()) == ["c.wav"]  # replaced whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cuts"]  # nothing left beside it
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="exists and is not a folder"):
        with atomic.atomic_dir(tmp_path / "file"):
            pass


def test_atomic_dir_puts_the_earlier_folder_back_when_the_swap_fails_half_way(tmp_path, monkeypatch):
    folder = tmp_path / "cuts"
    with atomic.atomic_dir(folder) as staging:
        (staging / "a.wav").write_text("first")
    real_rename, calls = atomic.os.rename, []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the earlier folder moved aside, the new one not yet in
            raise OSError("no room")
        real_rename(src, dst)

    monkeypatch.setattr(atomic.os, "rename", second_fails)
    with pytest.raises(OSError, match="no room"):
        with atomic.atomic_dir(folder) as staging:
            (staging / "b.wav").write_text("second")
    assert sorted(p.name for p in folder.iterdir()) == ["a.wav"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cuts"]
