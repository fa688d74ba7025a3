"""bench/bench_throttle.py's accounting (no fleet is run here): the bound of a run from what it
really sent, and the model rotation that makes every run change every row."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> Any:
    sys.path.insert(0, str(REPO / "bench"))  # the benchmark imports `common` by name
    try:
        yield importlib.import_module("bench_throttle")
    finally:
        sys.path.remove(str(REPO / "bench"))
        sys.modules.pop("bench_throttle", None)
        for name in ("common", "bench_fleet"):
            sys.modules.pop(name, None)


def test_the_bound_is_the_write_bucket_s_or_the_latency_s(bench):
    run = {"requests": 2020, "throttled": 20, "writes": 500}
    bound, latency, budget = bench.bound_of(run, 50, 20.0)
    assert budget == pytest.approx((500 - 50) / 20) and latency == pytest.approx(2000 * 0.05 / 16)
    assert bound == budget
    # a fleet that never outruns the bucket is bound by latency (429s are not counted as work)
    assert bench.bound_of({"requests": 400, "throttled": 0, "writes": 40}, 50, 20.0)[0] == pytest.approx(400 * 0.05 / 16)


def test_every_run_deploys_another_model_than_the_last_two(bench, tmp_path: Path):
    runs = bench.Runs(tmp_path, ["/subscriptions/s/x/a", "/subscriptions/s/x/b"], ["m0", "m1", "m2"])
    models = [runs.next_manifest().read_text().splitlines()[1].rsplit(",", 1)[1] for _ in range(4)]
    assert models == ["m0", "m1", "m2", "m0"]
    assert runs.next_manifest().read_text().splitlines() == ["key,target,model", "a,/subscriptions/s/x/a,m1",
                                                             "b,/subscriptions/s/x/b,m1"]
