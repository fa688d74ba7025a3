#!/usr/bin/env python3
"""``make bench``: the six amlws benchmarks, each printing its ratios against its target.

    python bench/run.py                 all six (a few minutes)
    python bench/run.py --only 1 3      some of them
    python bench/run.py --quick         fewer repetitions / rows (a smoke run)
    python bench/run.py --record        also rewrite bench/RESULTS.md with this run
    python bench/run.py --record --note "TEXT"   ... with a note on the conditions

Every ratio is measured against a baseline taken in the same run on the same machine; no
absolute time is compared with a constant. Every side of a ratio is timed the same way (the
harness's wall clock, median of the same number of interleaved runs: common.time_sides). A
missed target is printed as MISS, recorded as missed, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Result, say  # noqa: E402

BENCHES = {
    1: ("start-up", "bench_startup"),
    2: ("requests per operation", "bench_requests"),
    3: ("LRO detection lag", "bench_lro"),
    4: ("fleet throughput", "bench_fleet"),
    5: ("large definitions", "bench_large"),
    6: ("Azure ML v2", "bench_mlv2"),
    7: ("fleets at ARM's limits", "bench_throttle"),
}


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    return {"os": f"{platform.system()} {platform.release()}", "cpu": cpu, "cpus": str(os.cpu_count()), "memory": mem,
            "load": load_average(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def load_average() -> str:
    """The 1-minute load average (runnable processes), to tell a quiet machine from a busy one."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "unknown"


def record(results: list[Result], info: dict[str, str], seconds: float, path: Path, note: str | None = None) -> None:
    lines = ["# amlws benchmark results", "",
             "Written by `python bench/run.py --record` (`make bench` runs the same benchmarks without rewriting this file).",
             "Every ratio is against a baseline measured in the same run on the same machine.", "",
             f"- Date: {info['date']}", f"- Machine: {info['cpu']}, {info['cpus']} CPUs, {info['memory']}, {info['os']}",
             f"- Python: {info['python']}", f"- Whole run: {seconds:.0f} s",
             f"- Load average (1 min, on {info['cpus']} CPUs): {info['load']} at the start, {info.get('load_end', 'unknown')} at the end",
             *([f"- Note: {note}"] if note else []), "",
             "| # | benchmark | measured | target | result | notes |", "|---|---|---|---|---|---|"]
    for r in results:
        shown = f"{r.value:.2f}{r.unit}" if isinstance(r.value, float) else f"{r.value}{r.unit}"
        num = next(k for k, (_, mod) in BENCHES.items() if mod.endswith(r.bench) or r.bench in mod)
        lines.append(f"| {num} | {r.name} | {shown} | {r.target} | {'ok' if r.ok else '**missed**'} | {r.detail} |")
    notes = path.with_name("NOTES.md")
    if notes.exists():
        lines += ["", notes.read_text(encoding="utf-8").rstrip()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=int, nargs="*", choices=sorted(BENCHES))
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and rows")
    parser.add_argument("--record", action="store_true", help="rewrite bench/RESULTS.md")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--note", help="a line on the conditions of this run, recorded with --record")
    args = parser.parse_args()
    import importlib

    info = machine()
    say(f"amlws benchmarks: {info['python']} on {info['cpu']} ({info['cpus']} CPUs, load average {info['load']}), {info['date']}")
    t0 = time.perf_counter()
    results: list[Result] = []
    for num in args.only or sorted(BENCHES):
        title, module = BENCHES[num]
        say("")
        start = time.perf_counter()
        try:
            got = importlib.import_module(module).run(quick=args.quick)
        except Exception as exc:  # noqa: BLE001 - report it as a miss and go on with the others
            import traceback

            traceback.print_exc()
            got = [Result(module.replace("bench_", ""), f"{title}: crashed", 0, "runs", False, unit="", detail=f"{type(exc).__name__}: {exc}")]
        for r in got:
            say(r.line())
        say(f"   ({time.perf_counter() - start:.0f} s)")
        results.extend(got)
    seconds = time.perf_counter() - t0
    info["load_end"] = load_average()
    missed = [r for r in results if not r.ok]
    say("")
    say(f"{len(results) - len(missed)}/{len(results)} targets met in {seconds:.0f} s" + (": missed " + "; ".join(r.name for r in missed) if missed else ""))
    if args.record:
        record(results, info, seconds, HERE / "RESULTS.md", note=args.note)
        say(f"wrote {HERE / 'RESULTS.md'}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "seconds": seconds, "results": [r.__dict__ for r in results]}, indent=2, default=str))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
