"""Fleet retraining: one manifest row per model, run concurrently, journaled, resumable, shardable.

Microsoft's "create many models and endpoints from one experiment" walkthrough
(REFERENCE.md §6.2) retrains one model per location and patches one endpoint per model
with three sequential PowerShell loops. :func:`run_fleet` does it for every row of a
manifest with bounded concurrency::

    from amlws import api
    from amlws.fleet import FleetOptions, load_manifest, run_fleet

    host = api.open_host()
    rows = load_manifest("fleet.csv")
    summary = run_fleet(host, rows, FleetOptions(state="fleet.state.jsonl", jobs=16, bes_jobs=4),
                        api_key=..., storage_connection_string=...)

Every step that matters is journaled to an append-only JSON-lines state file (one
``os.write`` per record, ``fsync`` before the step that depends on it), so that a run
killed at any moment resumes where it stopped: a row whose BES job id is journaled never
gets a second job (the resumed run waits on that job), and a row journaled as deployed
and verified is never deployed again. ``--shard I/N`` keeps the rows whose key hashes
(SHA-256, stable across machines and Python versions) to slice I of N.

Manifests are CSV, JSON or YAML (YAML with the ``amlws[yaml]`` extra, i.e. PyYAML; it is not a
dependency). See ``docs/fleet.md`` for the columns.

The package holds one thing per module: :mod:`~amlws.fleet.manifest` (rows from a manifest),
:mod:`~amlws.fleet.shards` (``--shard I/N``), :mod:`~amlws.fleet.journal` (the state file and the
row states it folds to), :mod:`~amlws.fleet.status` (summaries, ``amlws fleet status``),
:mod:`~amlws.fleet.runner` (:func:`run_fleet`) and :mod:`~amlws.fleet.progress` (the stderr display).
Their public names are re-exported here.
"""

from __future__ import annotations

from .journal import (
    DEPLOYED,
    FAILED,
    FINAL,
    GATE_FAILED,
    INTERRUPTED,
    JOURNAL_VERSION,
    PENDING,
    PLANNED,
    SKIPPED,
    Journal,
    RowState,
    fold_journal,
    load_states,
    read_journal,
)
from .manifest import FleetRow, load_manifest, manifest_format, parse_manifest
from .progress import FleetProgress
from .runner import FleetFailed, FleetInterrupted, FleetOptions, FleetRunner, run_fleet
from .shards import default_state_path, parse_shard, select_shard, shard_index
from .status import aggregate_exit_code, fleet_status, resolve_state_paths, state_files_of, summarize

__all__ = [
    "DEPLOYED", "FAILED", "FINAL", "GATE_FAILED", "INTERRUPTED", "JOURNAL_VERSION", "PENDING", "PLANNED", "SKIPPED",
    "FleetFailed", "FleetInterrupted", "FleetOptions", "FleetProgress", "FleetRow", "FleetRunner", "Journal", "RowState",
    "aggregate_exit_code", "default_state_path", "fleet_status", "fold_journal", "load_manifest", "load_states",
    "manifest_format", "parse_manifest", "parse_shard", "read_journal", "resolve_state_paths", "run_fleet",
    "select_shard", "shard_index", "state_files_of", "summarize",
]
