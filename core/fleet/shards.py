"""Sharding a fleet over machines: ``--shard I/N`` keeps the rows whose key hashes to slice I of N
(SHA-256, stable across machines and Python versions), each shard with its own state file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from ..errors import UsageError
from .manifest import FleetRow


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` -> ``(2, 4)`` (1-based); ``None`` for no sharding."""
    if not text:
        return None
    try:
        i, n = (int(p) for p in str(text).split("/", 1))
    except ValueError:
        raise UsageError(f"invalid --shard {text!r}", hint="write I/N with 1 <= I <= N, e.g. --shard 2/4") from None
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"invalid --shard {text!r}", hint="write I/N with 1 <= I <= N, e.g. --shard 2/4")
    return i, n


def shard_index(key: str, count: int) -> int:
    """The 1-based shard of a row key: SHA-256, so every machine and Python agrees."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select_shard(rows: Iterable[FleetRow], shard: tuple[int, int] | None) -> list[FleetRow]:
    if shard is None:
        return list(rows)
    i, n = shard
    return [r for r in rows if shard_index(r.key, n) == i]


def default_state_path(manifest: str | Path, shard: tuple[int, int] | None = None) -> Path:
    p = Path(manifest)
    suffix = f".shard-{shard[0]}-of-{shard[1]}" if shard else ""
    return p.with_name(f"{p.stem}{suffix}.fleet-state.jsonl")
