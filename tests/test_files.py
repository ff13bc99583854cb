"""write_atomic: a file is replaced whole or not at all."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jitspot.errors import OutputNotWritable
from jitspot.files import check_writable, write_atomic


def test_write_atomic__replaces_the_file_a_symlink_points_to(tmp_path: Path) -> None:
    real = tmp_path / "real.html"
    real.write_text("old")
    link = tmp_path / "index.html"
    link.symlink_to(real.name)
    write_atomic(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_write_atomic__writes_into_a_device_in_place(tmp_path: Path) -> None:
    """A pipe (`-o /dev/stdout`) is written into, not replaced by a renamed temp file."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    # Opened for reading first (without waiting for a writer), so that the write finds
    # a reader and the test reads what reached the pipe afterwards.
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    try:
        check_writable(pipe)
        write_atomic(pipe, "through the pipe")
        assert os.read(reader, 100) == b"through the pipe"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(pipe.lstat().st_mode)  # still the pipe, not a file renamed over it
    assert list(tmp_path.iterdir()) == [pipe]  # no temp file beside it


def test_write_atomic__keeps_an_unusual_mode(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("old")
    page.chmod(0o640)
    write_atomic(page, "new")
    assert stat.S_IMODE(page.stat().st_mode) == 0o640
    assert page.read_text() == "new"


def test_check_writable__directory_and_missing_parent(tmp_path: Path) -> None:
    with pytest.raises(OutputNotWritable, match="is a directory"):
        check_writable(tmp_path)
    with pytest.raises(OutputNotWritable, match="no directory"):
        check_writable(tmp_path / "missing" / "x.html")
    check_writable(tmp_path / "x.html")
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from jitspot.errors import OutputNotWritable
from jitspot.files import write_atomic
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
try:
    write_atomic(Path(sys.argv[1]), "x" * 5000)
except OutputNotWritable as exc:
    print(exc)
"""


@pytest.mark.parametrize("existed", [True, False])
def test_write_atomic__failed_write_cleans_up(tmp_path: Path, existed: bool) -> None:
    page = tmp_path / "page.html"
    if existed:
        page.write_bytes(b"old page")
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(page)], capture_output=True, text=True, check=True
    )
    kept = "the old file is unchanged" if existed else "nothing was written"
    assert result.stdout == f"cannot write {page}: file too large; {kept}\n"
    assert [p.name for p in tmp_path.iterdir()] == (["page.html"] if existed else [])
    if existed:
        assert page.read_bytes() == b"old page"
