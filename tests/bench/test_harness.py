"""bench/common.py's one timing helper: every side of a comparison timed by the harness's clock,
the same number of times, interleaved, the median kept; untimed set-up and accounting stay
outside the clock. (A fake clock: no test here measures real time.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def common() -> Any:
    sys.path.insert(0, str(REPO / "bench"))  # the benchmarks import it as `common`
    try:
        spec = importlib.util.spec_from_file_location("amlws_bench_common", REPO / "bench" / "common.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("amlws_bench_common", None)
        sys.path.remove(str(REPO / "bench"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_every_side_runs_the_same_repeats_interleaved_and_keeps_the_median(common):
    clock = FakeClock()
    calls: list[str] = []
    durations = {"amlws": [5.0, 9.0, 6.0], "baseline": [4.0, 3.0, 8.0]}

    def side(name: str) -> Any:
        def before(i: int) -> str:
            clock.now += 100  # set-up is not timed
            return f"prepared {i}"

        def run(i: int) -> str:
            calls.append(f"{name}{i}")
            clock.now += durations[name][i] if i >= 0 else 50
            return f"{name} result {i}"

        def after(i: int, got: str, prepared: str) -> str:
            clock.now += 100  # nor is the accounting after it
            return f"{got} / {prepared}"

        return common.Side(run, before, after)

    times = common.time_sides({"amlws": side("amlws"), "baseline": side("baseline")}, repeats=3, warmup=1, clock=clock)
    assert calls == ["amlws-1", "baseline-1", "amlws0", "baseline0", "amlws1", "baseline1", "amlws2", "baseline2"]
    assert times["amlws"].seconds == [5.0, 9.0, 6.0] and times["baseline"].seconds == [4.0, 3.0, 8.0]  # warm-up dropped
    assert times["amlws"].value == 6.0 and times["baseline"].value == 4.0  # the median of each, not the best
    assert times["amlws"].result == "amlws result 2 / prepared 2" and times["baseline"].result == "baseline result 0 / prepared 0"
    assert times["amlws"].runs() == "5.0, 9.0, 6.0 s"


def test_plain_callables_are_sides_and_an_even_repeat_count_is_refused(common):
    clock = FakeClock()

    def tick(i: int) -> int:
        clock.now += 2.0
        return i

    times = common.time_sides({"a": tick}, repeats=1, clock=clock)
    assert times["a"].seconds == [2.0] and times["a"].results == [0]
    with pytest.raises(ValueError, match="odd"):
        common.time_sides({"a": tick}, repeats=2, clock=clock)
    assert common.STATISTIC == "median" and common.REPEATS % 2 == 1
