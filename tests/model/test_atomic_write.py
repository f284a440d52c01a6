"""The one writer every output goes through: whole files or none, and the cause in words."""

from __future__ import annotations

import errno

import pytest
from storage_faults import files_under, full_disk, read_only_folder

from attanet_model.atomic_write import OutputError, atomic_output, write_bytes_atomic


def test_a_write_replaces_the_file_whole(tmp_path):
    path = write_bytes_atomic(tmp_path / "a" / "b.bin", b"x" * 1000)
    assert path.read_bytes() == b"x" * 1000 and oct(path.stat().st_mode & 0o777) == "0o644"
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert files_under(tmp_path) == {"a/b.bin": 3}  # no temporary file left


def test_a_full_disk_keeps_the_old_file_and_leaves_no_partial_one(tmp_path):
    disk = tmp_path / "disk"
    with full_disk(disk, free_bytes=8192):
        old = write_bytes_atomic(disk / "model.bin", b"old" * 100)
        with pytest.raises(OutputError) as caught:
            write_bytes_atomic(old, b"\1" * 100_000)
        assert old.read_bytes() == b"old" * 100  # readers still see the complete previous file
        assert files_under(disk) == {"model.bin": 300}
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, ValueError)
    assert str(caught.value) == (
        f"cannot write {old}: no space left on {disk} (the disk is full); free some space or write to another folder"
    )


def test_a_writer_that_writes_nothing_or_fails_leaves_nothing(tmp_path):
    nothing = f"cannot write {tmp_path / 'v.avi'}: nothing was written"
    with pytest.raises(OutputError, match=nothing), atomic_output(tmp_path / "v.avi") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".avi") and tmp.name.startswith(".v.avi.")
    with pytest.raises(KeyError), atomic_output(tmp_path / "v.avi") as tmp:
        tmp.write_bytes(b"half")
        raise KeyError("the writer failed")
    assert files_under(tmp_path) == {}


def test_a_read_only_folder_is_named(tmp_path):
    disk = tmp_path / "ro"
    with read_only_folder(disk), pytest.raises(OutputError) as caught:
        write_bytes_atomic(disk / "sub" / "x.png", b"png")
    assert caught.value.errno == errno.EROFS
    assert (
        str(caught.value)
        == f"cannot create {disk / 'sub'}: {disk} is on a read-only file system; choose a writable folder"
    )
