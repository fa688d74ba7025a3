"""Local history of remote definitions, written before every remote change.

One folder per target under the user state dir (``AMLWS_STATE_DIR`` overrides it);
one file per revision (``000001.json``...), created atomically and never overwritten,
so that a crash or ``kill -9`` at any moment during an update leaves an entry from
which ``amlws rollback`` restores the previous state. The outcome of the change is
written beside it (``000001.status.json``) once known.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import getpass
import hashlib
import json
import os
import platform
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import state_dir
from ..errors import AmlwsError, NotFoundError
from ..fsutil import _fsync_dir, atomic_write_text
from ..redact import redact_obj

#: Keys removed from saved definitions: they are secrets and no update needs them.
_STRIP_KEYS = frozenset({"primarykey", "secondarykey", "keys"})


def _strip_secrets(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_secrets(v) for k, v in obj.items() if not (isinstance(k, str) and k.lower() in _STRIP_KEYS)}
    if isinstance(obj, list):
        return [_strip_secrets(v) for v in obj]
    return obj


def safe_definition(definition: Any) -> Any:
    """What history keeps of a definition: API keys removed, every other secret masked
    (SAS ``sig=``, storage keys, registered secret values). ``amlws rollback`` restores masked
    values from the live service when unchanged (see :func:`amlws.safety.rollback.unmask`)."""
    return redact_obj(_strip_secrets(definition)) if definition is not None else None


def target_folder_name(target_id: str) -> str:
    """A file-system-safe, stable, readable folder name for a target ID."""
    digest = hashlib.sha256(target_id.encode("utf-8")).hexdigest()[:12]
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", target_id.rstrip("/").rsplit("/", 1)[-1])[:40] or "target"
    return f"{tail}-{digest}"


class History:
    """Revisions of remote definitions, per target."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else state_dir() / "history"

    def folder(self, target_id: str) -> Path:
        return self.root / target_folder_name(target_id)

    def record(
        self,
        target_id: str,
        backend: str,
        definition: dict[str, Any] | None,
        *,
        action: str,
        request: Any = None,
        note: str | None = None,
        metrics: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """Save the current remote ``definition`` before ``action`` changes it; returns the entry.

        :param metrics: the evaluation of the model the change deploys (a retrain's gate metrics):
            ``amlws history TARGET --metrics`` shows them as a trend."""
        folder = self.folder(target_id)
        folder.mkdir(parents=True, exist_ok=True)
        entry = {
            "revision": 0,
            "target": target_id,
            "backend": backend,
            "action": action,
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "user": _user(),
            "host": platform.node(),
            "amlwsVersion": __version__,
            "note": note,
            "request": redact_obj(request) if request is not None else None,
            "definition": safe_definition(definition),
        }
        if metrics:
            entry["metrics"] = dict(metrics)
        for _ in range(1000):
            revision = self._next_revision(folder)
            entry["revision"] = revision
            if _create_exclusive(folder / f"{revision:06d}.json", json.dumps(entry, indent=2, ensure_ascii=False) + "\n"):
                return entry
        raise AmlwsError(f"cannot record history in {folder}", hint="check the state directory is writable")

    @contextlib.contextmanager
    def change(
        self,
        target_id: str,
        backend: str,
        definition: dict[str, Any] | None,
        *,
        action: str,
        request: Any = None,
        note: str | None = None,
        metrics: dict[str, float] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Record ``definition`` before a change, then its outcome: ``applied``, ``failed`` or
        ``interrupted``. Put details for the outcome in ``entry["outcome"]`` inside the block.

        Set ``entry["unchanged"] = True`` inside the block when the service reports that nothing
        changed (e.g. a refresh answered 304): the revision is then removed, since history
        records changes, and a revision equal to the live state would make ``amlws rollback`` a no-op."""
        entry = self.record(target_id, backend, definition, action=action, request=request, note=note, metrics=metrics)
        entry["outcome"] = {}
        try:
            yield entry
        except KeyboardInterrupt:
            self.mark(target_id, entry["revision"], "interrupted")
            raise
        except BaseException as exc:
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.mark(target_id, entry["revision"], "failed", error=str(message))
            raise
        if entry.get("unchanged"):
            self.discard(target_id, entry["revision"])
            return
        self.mark(target_id, entry["revision"], "applied", **entry["outcome"])

    def discard(self, target_id: str, revision: int) -> None:
        """Remove a revision recorded for a change that changed nothing (see :meth:`change`)."""
        for name in (f"{revision:06d}.status.json", f"{revision:06d}.json"):
            try:
                (self.folder(target_id) / name).unlink()
            except FileNotFoundError:
                pass

    def mark(self, target_id: str, revision: int, status: str, **details: Any) -> None:
        """Record the outcome of the change that followed ``revision`` (applied, failed...)."""
        data = {"revision": revision, "status": status, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), **details}
        # 0o600 as the revision beside it (mkstemp's mode). Not fsynced: the revision, written
        # before the change, is what rollback needs; a status lost to a power cut reads "unknown".
        atomic_write_text(self.folder(target_id) / f"{revision:06d}.status.json", json.dumps(redact_obj(data), indent=2) + "\n",
                          mode=0o600, durable=False)

    def targets(self) -> list[dict[str, Any]]:
        """Every target with history: its ID, backend, number of revisions and the latest change."""
        out: list[dict[str, Any]] = []
        if not self.root.is_dir():
            return out
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            files = self._revision_files(folder)
            last = _read(files[-1]) if files else None
            if not last:
                continue
            out.append({"target": last.get("target"), "backend": last.get("backend"), "revisions": len(files),
                        "lastTime": last.get("time"), "lastAction": last.get("action")})
        return sorted(out, key=lambda r: str(r["lastTime"]), reverse=True)

    def status(self, target_id: str, revision: int) -> dict[str, Any]:
        """The recorded outcome of the change after ``revision`` (``{}`` when none was recorded)."""
        return _read(self.folder(target_id) / f"{revision:06d}.status.json") or {}

    def list(self, target_id: str, *, definitions: bool = False) -> list[dict[str, Any]]:
        """Revisions, oldest first (``amlws history``); their saved definitions too with ``definitions``."""
        out = []
        for path in self._revision_files(self.folder(target_id)):
            entry = _read(path)
            if entry is None:
                continue
            status = _read(path.with_name(path.stem + ".status.json")) or {}
            out.append(
                {
                    "revision": entry.get("revision"),
                    "time": entry.get("time"),
                    "user": entry.get("user"),
                    "action": entry.get("action"),
                    "status": status.get("status", "unknown (no outcome recorded)"),
                    "note": entry.get("note"),
                    **({"backend": entry.get("backend"), "definition": entry.get("definition")} if definitions else {}),
                }
            )
        return out

    def metrics(self, target_id: str) -> builtins.list[dict[str, Any]]:
        """The applied changes that recorded metrics (retrains), oldest first:
        ``{"revision", "time", "action", "note", "metrics"}``."""
        out = []
        for path in self._revision_files(self.folder(target_id)):
            entry = _read(path)
            if not entry or not isinstance(entry.get("metrics"), dict) or not entry["metrics"]:
                continue
            status = _read(path.with_name(path.stem + ".status.json")) or {}
            if status.get("status") != "applied":
                continue
            out.append({"revision": entry.get("revision"), "time": entry.get("time"), "action": entry.get("action"),
                        "note": entry.get("note"), "metrics": entry["metrics"]})
        return out

    def get(self, target_id: str, revision: int | None = None) -> dict[str, Any]:
        """One entry with its definition; ``None`` = the latest."""
        files = self._revision_files(self.folder(target_id))
        if not files:
            raise NotFoundError(f"no history for {target_id}", hint="history is recorded by amlws before each change")
        if revision is None:
            path = files[-1]
        else:
            path = self.folder(target_id) / f"{revision:06d}.json"
            if not path.exists():
                have = ", ".join(str(int(p.stem)) for p in files)
                raise NotFoundError(f"no revision {revision} for {target_id}", hint=f"revisions: {have}")
        entry = _read(path)
        if entry is None:
            raise AmlwsError(f"history entry {path} is unreadable", hint="pick another revision with --to")
        return entry

    @staticmethod
    def _revision_files(folder: Path) -> builtins.list[Path]:
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.glob("[0-9][0-9][0-9][0-9][0-9][0-9].json"))

    def _next_revision(self, folder: Path) -> int:
        files = self._revision_files(folder)
        return int(files[-1].stem) + 1 if files else 1


@functools.lru_cache(maxsize=1)
def _user() -> str:
    # cached: without USER/LOGNAME set getpass reads the password database, once per entry
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _create_exclusive(path: Path, text: str) -> bool:
    """Write a complete file at ``path`` only if none exists (never overwrite a revision)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            if os.name == "nt":
                os.rename(tmp, path)  # fails when the target exists
            else:
                os.link(tmp, path)  # fails when the target exists; the rename-free path is atomic
        except FileExistsError:
            return False
        _fsync_dir(path.parent)  # the new name, not only the data, survives a power cut
        return True
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# --- optimistic concurrency: what `amlws export` saw ---------------------------------------


def export_record_path(target_id: str, root: Path | None = None) -> Path:
    return (Path(root) if root else state_dir()) / "exports" / (target_folder_name(target_id) + ".json")


def record_export(target_id: str, fingerprint: str, *, file: str | None = None, root: Path | None = None) -> Path:
    """Remember the fingerprint of the definition ``amlws export`` wrote (or an update left)."""
    data = {"target": target_id, "fingerprint": fingerprint, "file": file,
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return atomic_write_text(export_record_path(target_id, root), json.dumps(data, indent=2) + "\n")


def exported_fingerprint(target_id: str, root: Path | None = None) -> str | None:
    """The fingerprint recorded by the last export of ``target_id``, or ``None``."""
    data = _read(export_record_path(target_id, root))
    return data.get("fingerprint") if isinstance(data, dict) else None


# --- where an exported file came from -------------------------------------------------------


def _file_key(file: str | Path) -> str:
    resolved = str(Path(file).expanduser().resolve())
    return hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:32]


def file_source_path(file: str | Path, root: Path | None = None) -> Path:
    return (Path(root) if root else state_dir()) / "exports" / "files" / (_file_key(file) + ".json")


def record_file_source(file: str | Path, target_id: str, *, root: Path | None = None) -> Path:
    """Remember that ``file`` holds a definition exported from ``target_id``.

    Kept in the state dir, keyed by the file's absolute path, not in the file: the file stays the
    document the PowerShell cmdlets write. ``amlws patch-ilearner`` carries the record over to the
    file it writes, so an exported-then-patched file still names its source.
    """
    data = {"file": str(Path(file).expanduser().resolve()), "target": target_id,
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return atomic_write_text(file_source_path(file, root), json.dumps(data, indent=2) + "\n")


def file_source(file: str | Path, root: Path | None = None) -> str | None:
    """The target ``file`` was exported from (as recorded by :func:`record_file_source`), or ``None``."""
    data = _read(file_source_path(file, root))
    if not isinstance(data, dict) or data.get("file") != str(Path(file).expanduser().resolve()):
        return None
    target = data.get("target")
    return target if isinstance(target, str) else None
