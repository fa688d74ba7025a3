"""Atomic file writes: a crash leaves the old file or the new one, never half of either."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from .errors import AmlwsError, NotFoundError, UsageError


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file, fsync, then rename over it.

    :param mode: file permissions to create the file with (e.g. ``0o600`` for secrets).
        By default an existing file keeps its permissions and a new one gets the usual
        ``0o666`` less the umask (the temporary file alone would be ``0o600``).
    :param durable: fsync the file and its folder (survives power loss). ``False`` keeps the
        write atomic (a crashed or killed process leaves the old file or the new one) without
        waiting for the disk, for records whose loss on power failure costs nothing.
    """
    return atomic_write_with(path, lambda fh: fh.write(data), mode=mode, durable=durable)


def atomic_write_with(path: str | os.PathLike[str], write: Callable[[BinaryIO], Any], *, mode: int | None = None,
                      durable: bool = True) -> Path:
    """Like :func:`atomic_write_bytes`, with ``write(fh)`` streaming the content into the binary
    temporary file (a large document need not be one string in memory first)."""
    target = Path(path)
    if mode is None:
        mode = _default_mode(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}", hint="choose a writable output path") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if not isinstance(exc, OSError):
            raise
        raise AmlwsError(
            f"cannot write {target}: {exc.strerror or exc}", hint="free disk space or choose a writable output path"
        ) from None
    if durable:
        _fsync_dir(target.parent)
    return target


def _default_mode(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        pass
    umask = _current_umask()
    return 0o666 & ~umask


def _current_umask() -> int:
    if os.name != "posix":
        return 0
    try:  # Linux shows it without changing it (no race with other threads creating files)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere os.umask can only be read by setting it; set it back at once.
    value = os.umask(0o022)
    os.umask(value)
    return value


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int | None = None, durable: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode=mode, durable=durable)


def _fsync_dir(directory: Path) -> None:
    # Directory fsync makes the rename durable on POSIX; Windows has no equivalent and needs none.
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike[str], *, what: str = "file") -> str:
    """Read a UTF-8 text file (BOM tolerated: PowerShell writes one) with one clear error."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{what} not found: {p}", hint="check the path") from None
    except IsADirectoryError:
        raise UsageError(f"{what} is a directory: {p}", hint="give a file path") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {p}: {exc.strerror or exc}",
            hint='check the path and its permissions') from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("utf-16")
        except UnicodeError:
            raise UsageError(f"{what} is not UTF-8 text: {p}", hint="save it as UTF-8") from None
