"""Writing output files safely: whole or not at all, never a truncated page."""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path

from jitspot.errors import OutputNotWritable

# Readable by everyone, like a file made by `>` under the usual umask: a web server
# serving an exported gallery must be able to read it.
_NEW_FILE_MODE = 0o666


def check_writable(path: Path) -> None:
    """Raise OutputNotWritable unless `write_atomic(path, ...)` can succeed, as far as
    can be known before writing (a full disk only shows itself then).

    Creates and removes one empty temp file beside `path`: the only sure test of a
    directory's permissions, ACLs and read-only mounts.
    """
    if _is_special(path):
        return
    target = _target(path)
    if target.is_dir():
        raise OutputNotWritable(f"cannot write {path}: it is a directory; name a file")
    if not target.parent.is_dir():
        raise OutputNotWritable(
            f"cannot write {path}: there is no directory {target.parent}; create it first"
        )
    fd, temp = _temp_beside(path, target)
    os.close(fd)
    os.unlink(temp)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) atomically: readers see the old file or the new.

    Writes a temp file in the same directory, fsyncs it and renames it over `path`.
    On any failure the temp file is removed, `path` is untouched, and
    OutputNotWritable says why ("no space left on device"). A replaced file keeps
    its mode (and owner, where allowed); a new one gets the umask's. A symlink is
    followed: the file it points to is replaced, the link stays.
    """
    if _is_special(path):
        _write_in_place(path, text)
        return
    target = _target(path)
    existing = _stat(target)
    fd, temp = _temp_beside(path, target)
    try:
        with open(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            _copy_metadata(handle.fileno(), existing)
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            kept = "the old file is unchanged" if existing else "nothing was written"
            raise OutputNotWritable(f"cannot write {path}: {_reason(exc)}; {kept}") from exc
        raise
    _fsync_directory(target.parent)


def _is_special(path: Path) -> bool:
    """A device or pipe (`-o /dev/stdout`): nothing to replace, only to write into."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _write_in_place(path: Path, text: str) -> None:
    try:
        with path.open("w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise OutputNotWritable(f"cannot write {path}: {_reason(exc)}") from exc


def _target(path: Path) -> Path:
    # Replace what a symlink points to, not the link (e.g. /var/www/index.html -> ...).
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _stat(path: Path) -> os.stat_result | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputNotWritable(f"cannot write {path}: {_reason(exc)}") from exc
    return found if stat.S_ISREG(found.st_mode) else None


def _temp_beside(path: Path, target: Path) -> tuple[int, str]:
    """A new temp file in `target`'s directory, so the rename never crosses file systems."""
    try:
        return tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputNotWritable(f"cannot write {path}: {_reason(exc)}") from exc


def _copy_metadata(fd: int, existing: os.stat_result | None) -> None:
    # mkstemp makes files 0600: give the result the mode the user expects.
    if existing is None:
        os.fchmod(fd, _NEW_FILE_MODE & ~_umask())
        return
    with suppress(PermissionError):  # only root may give a file away; keep ours then
        os.fchown(fd, existing.st_uid, existing.st_gid)
    os.fchmod(fd, stat.S_IMODE(existing.st_mode))


def _umask() -> int:
    # There is no way to read the umask without setting it; set it back at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; best effort (some file systems refuse)."""
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _reason(exc: OSError) -> str:
    """ "No space left on device" -> "no space left on device": the end of a sentence."""
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]
