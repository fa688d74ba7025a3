"""What a fleet's state files say: the summary of a run, and ``amlws fleet status`` over one or
more journals (shards), with the exit code a finished run would have."""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ExitCode, NotFoundError, UsageError
from .journal import DEPLOYED, INTERRUPTED, PENDING, PLANNED, SKIPPED, RowState, load_states, read_journal
from .shards import default_state_path

log = logging.getLogger("amlws.fleet")


def aggregate_exit_code(states: Iterable[RowState], *, pending_fails: bool = False) -> int:
    """0 when every row is deployed (or planned); else the failing rows' common exit code, or 1."""
    codes = set()
    for st in states:
        if st.status in (DEPLOYED, PLANNED):
            continue
        if st.status in (PENDING, "running", SKIPPED):
            if pending_fails:
                codes.add(int(ExitCode.FAILED))
            continue
        if st.status == INTERRUPTED:
            codes.add(int(ExitCode.INTERRUPTED))
            continue
        codes.add(int(st.exit_code or ExitCode.FAILED))
    if not codes:
        return 0
    return codes.pop() if len(codes) == 1 else int(ExitCode.FAILED)


def summarize(states: dict[str, RowState], order: list[str] | None = None, *, state_files: list[str] | None = None,
              elapsed: float | None = None, pending_fails: bool = True) -> dict[str, Any]:
    keys = order or sorted(states)
    rows = [states[k].to_dict() for k in keys if k in states]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    out: dict[str, Any] = {"rows": rows, "counts": counts, "total": len(rows),
                           "exitCode": aggregate_exit_code((states[k] for k in keys if k in states), pending_fails=pending_fails)}
    if state_files is not None:
        out["state"] = state_files
    if elapsed is not None:
        out["elapsedSeconds"] = round(elapsed, 3)
    return out


def _is_journal(path: Path) -> bool:
    """Whether ``path`` holds fleet journal records (a manifest, even a JSON one, has none)."""
    return any("event" in rec for rec in read_journal(path))


def state_files_of(manifest: str | Path) -> list[Path]:
    """The state files ``amlws fleet run MANIFEST`` writes by default: unsharded and per shard."""
    p = Path(manifest)
    default = default_state_path(p)
    shards = sorted(p.parent.glob(f"{glob.escape(p.stem)}.shard-*-of-*.fleet-state.jsonl"))
    return ([default] if default.is_file() else []) + [s for s in shards if s.is_file()]


def resolve_state_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The journals to read for ``paths``: a state file as given; a manifest given by mistake
    stands for the state files beside it. Neither is an error, so that a CI check on the fleet
    never passes on zero rows.

    :raises NotFoundError: a path does not exist (exit 3).
    :raises UsageError: a path is neither a state file nor a manifest with one.
    """
    out: list[Path] = []
    for given in paths:
        p = Path(given)
        if not p.exists():
            raise NotFoundError(f"no such file {p}", hint="check the path: give the --state file(s) that amlws fleet run wrote, or its manifest")
        if not p.is_file():
            raise UsageError(f"no fleet state file {p}", hint="give the --state file(s) that amlws fleet run wrote")
        if _is_journal(p):
            out.append(p)
            continue
        found = state_files_of(p)
        if not found and p.suffix.lower() in (".csv", ".json", ".yaml", ".yml"):
            raise UsageError(f"{p} is a fleet manifest, not a state file, and its state file "
                             f"{default_state_path(p).name} (or a shard's) is not beside it",
                             hint=f"give the --state file(s) that amlws fleet run wrote, or run amlws fleet run {p} first")
        if not found:
            raise UsageError(f"{p} is not a fleet state file (it holds no journal records)",
                             hint="give the --state file(s) that amlws fleet run wrote")
        log.info("%s is a fleet manifest: reading its state file(s) %s", p, ", ".join(str(f) for f in found))
        out += [f for f in found if f not in out]
    return out


def fleet_status(paths: list[str | Path]) -> dict[str, Any]:
    """The merged state of one or more journals (shards): rows, counts, and the exit code a
    finished run would have (pending rows count as failed: the fleet is not done). A manifest
    path stands for its default state file(s) (see :func:`resolve_state_paths`)."""
    paths = list(resolve_state_paths(paths))
    states, runs = load_states(paths)
    order: list[str] = []
    for run in runs:
        for key in run.get("rows") or []:
            if key not in order:
                order.append(key)
    order += [k for k in sorted(states) if k not in order]
    out = summarize(states, order, state_files=[str(p) for p in paths], pending_fails=True)
    out["runs"] = len(runs)
    return out
