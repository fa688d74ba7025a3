"""A small, fast run of bench/soak.py: mixed operations against the emulator with ~10% injected
faults; no lost update, no duplicated BES job, the final state exact, every failure a clear exit code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_soak():
    spec = importlib.util.spec_from_file_location("amlws_bench_soak", REPO / "bench" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_soak_60_operations_with_faults(azurite):
    soak = load_soak()
    report = soak.run(60, fault_rate=0.15, seed=11, max_seconds=120, storage_connection_string=azurite.connection_string)
    assert report["attempted"] == 60
    assert report["problems"] == []
    assert report["failedOtherwise"] == 0
    assert report["lostUpdates"] == 0
    assert report["duplicatedBesJobs"] == 0
    assert report["finalStateExact"] is True
    assert report["succeeded"] + report["failedWithClearExitCode"] == 60
    assert sum(report["faultsInjected"].values()) >= 5
    assert report["classicPatches"] is True and report["besSubmissions"] >= 1
    assert report["armHistoryEntries"] >= 1
