"""4. Fleet throughput: ``amlws fleet run`` over 500 rows against the emulator with 50 ms of
injected latency on every request, at ``--jobs 16``.

- endpoint patch rows (``model`` column: GET + PATCH + verify GET per row);
- full retrain rows with a short BES job (training data already in blob storage: preflight GET,
  submit, start, status polls, GET, PATCH, verify GET).

Reported against the ideal bound ``rows x requests per row x latency / concurrency`` (requests
per row counted in the emulator's request log) and against ``--jobs 1``. The sequential time is
extrapolated from a sample of rows (``SAMPLE``) run with ``--jobs 1`` on other endpoints, to keep
``make bench`` to a few minutes. Targets: within 1.25x of the ideal bound, and >= 10x faster
than sequential.
"""

from __future__ import annotations

import csv
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from common import (Result, azurite, bike_csv, children_cpu, client_env, demo_targets, emulator, emulator_model, process_cpu,
                    run_amlws, say, upload_blob)

LATENCY = 0.05
JOBS = 16
ROWS = 500
SAMPLE = 32


def create_endpoints(emu: Any, t: dict[str, str], names: list[str]) -> None:
    """Add the endpoints through the management API (before the clock starts, no latency yet)."""
    from concurrent.futures import ThreadPoolExecutor

    token = emu.env["AMLWS_WORKSPACE_TOKEN"]

    def put(name: str) -> None:
        r = emu.session.put(f"{t['scoring']}/endpoints/{name}", json={"Description": name, "ThrottleLevel": "Low", "MaxConcurrentCalls": None},
                            headers={"Authorization": f"Bearer {token}"}, verify=emu.ca, timeout=60)
        if r.status_code >= 300:
            raise RuntimeError(f"creating endpoint {name}: {r.status_code} {r.text[:200]}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, names))


def manifest(path: Path, t: dict[str, str], names: list[str], **columns: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["key", "target", *columns])
        for name in names:
            w.writerow([name, f"{t['scoring']}/endpoints/{name}", *columns.values()])
    return path


CPU: dict[str, float] = {}


def fleet(emu: Any, env: dict[str, str], path: Path, jobs: int, extra: list[str]) -> tuple[float, int, int]:
    """Run one fleet; returns (its run time in seconds, emulator requests, rows deployed)."""
    import common

    since = emu.last_seq()
    before = (children_cpu(), process_cpu(emu.proc.pid), process_cpu(common.AZURITE_PID))
    summary, wall, r = run_amlws(["fleet", "run", str(path), "--jobs", str(jobs), "--yes", *extra], env, check=False)
    after = (children_cpu(), process_cpu(emu.proc.pid), process_cpu(common.AZURITE_PID))
    if r.returncode != 0 or not summary:
        raise RuntimeError(f"fleet run failed ({r.returncode}): {r.stderr[-2000:]}")
    CPU.clear()
    for name, b, a in zip(("amlws", "emulator", "Azurite"), before, after):
        if a is not None and b is not None:
            CPU[name] = a - b
    CPU["wall"] = wall
    ops = [e for e in emu.requests(since) if e["api"] in ("classic", "arm", "bes", "rrs")]
    CPU["service"] = sum(e["durationMs"] for e in ops) / 1000  # the emulator's time in handlers (latency, job runs, locks)
    # the fleet's own run time (first row to summary); the process start-up (~0.2 s) is not throughput
    return float(summary["elapsedSeconds"]), len(ops), summary["counts"].get("deployed", 0)


def measure(label: str, emu: Any, env: dict[str, str], work: Path, t: dict[str, str], rows: int, sample: int, prefix: str,
            columns: dict[str, str], extra: list[str], again: list[dict[str, str]] | None = None, floor: int = 0) -> list[Result]:
    """``again``: columns for further parallel runs over the same endpoints (another model, or a new
    training, so every row changes again); the best run counts (best of N, as timeit reports), against
    the noise of other tenants of a shared machine. ``floor``: the fewest requests a row can take
    (shown beside the ratio, which counts the requests really made, as the issue's bound does)."""
    names = [f"{prefix}{i:04d}" for i in range(rows)]
    seq_names = [f"{prefix}s{i:03d}" for i in range(sample)]
    create_endpoints(emu, t, names + seq_names)
    emu.control("POST", "faults", {"kind": "latency", "seconds": LATENCY, "api": "*"})
    try:
        par_s, par_req, par_ok = fleet(emu, env, manifest(work / f"{prefix}.csv", t, names, **columns), JOBS, extra)
        cpu = dict(CPU)
        times = [par_s]
        for n, more in enumerate(again or [], start=2):
            s2, req2, ok2 = fleet(emu, env, manifest(work / f"{prefix}-{n}.csv", t, names, **more), JOBS, extra)
            times.append(s2)
            if ok2 == rows and s2 < par_s:
                par_s, par_req, par_ok, cpu = s2, req2, ok2, dict(CPU)
        if len(times) > 1:
            say(f"   {label}: runs of " + ", ".join(f"{x:.1f} s" for x in times))
        seq_s, seq_req, seq_ok = fleet(emu, env, manifest(work / f"{prefix}-seq.csv", t, seq_names, **columns), 1, extra)
    finally:
        emu.control("DELETE", "faults")
    if par_ok != rows or seq_ok != sample:
        raise RuntimeError(f"{label}: only {par_ok}/{rows} and {seq_ok}/{sample} rows deployed")
    per_row = par_req / rows
    ideal = rows * per_row * LATENCY / JOBS
    sequential = seq_s * rows / sample
    import os

    cores = os.cpu_count() or 1
    service = cpu.pop("service", 0.0)
    service_bound = service / JOBS
    busy = sum(v for k, v in cpu.items() if k != "wall")
    cpu_text = ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items() if k != "wall") + f" of CPU in {cpu.get('wall', 0):.1f} s on {cores} cores"
    say(f"   {label}: {rows} rows at --jobs {JOBS} in {par_s:.1f} s, {per_row:.2f} requests/row "
        f"(ideal {ideal:.1f} s); --jobs 1: {sample} rows in {seq_s:.1f} s -> {sequential:.0f} s for {rows} (extrapolated)")
    say(f"   {label}: {cpu_text}" + (f" (machine {100 * busy / (cores * cpu['wall']):.0f}% busy)" if cpu.get("wall") else ""))
    return [
        Result("fleet", f"{label}: time / ideal bound", par_s / ideal, "<= 1.25x", par_s / ideal <= 1.25,
               detail=f"{par_s:.1f} s vs {rows}x{per_row:.2f}x{LATENCY * 1000:.0f}ms/{JOBS} = {ideal:.1f} s"
               + (f" ({par_s / (rows * floor * LATENCY / JOBS):.2f}x at the floor of {floor} requests a row)" if floor and per_row > floor else "")
               + f"; {cpu_text}"),
        Result("fleet", f"{label}: speed-up over --jobs 1", sequential / par_s, ">= 10x", sequential / par_s >= 10,
               detail=f"sequential {sequential:.0f} s extrapolated from {sample} rows"),
        # not a target of the issue: the bound that counts what the emulator really spent per request
        # (injected latency + its own work, e.g. reading a model blob on a classic PATCH) instead of latency alone
        Result("fleet", f"{label}: time / service-time bound (info)", par_s / service_bound, "info", True,
               detail=f"sum of the emulator's request durations / {JOBS} = {service_bound:.1f} s"),
    ]


def bare_requests(emu: Any, t: dict[str, str], names: list[str], model_url: str) -> float:
    """The endpoint-patch fleet's HTTP alone: the same GET + PATCH + GET per row from ``JOBS``
    threads with a keep-alive ``requests`` session each, and nothing else (no history, journal,
    validation or redaction). Its time over the ideal bound is what the HTTP stack, the emulator
    and the two cores cost before amlws does anything."""
    import json
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import requests

    token = emu.env["AMLWS_WORKSPACE_TOKEN"]
    base, sas = model_url.split("?", 1)
    account_url, relative = base.rsplit("/", 2)[0] + "/", "/".join(base.rsplit("/", 2)[1:])
    local = threading.local()

    def row(name: str) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.trust_env = False
        url = f"{t['scoring']}/endpoints/{name}"
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        endpoint = session.get(url, headers=headers, verify=emu.ca, timeout=60).json()
        body = {"Resources": [{"Name": endpoint["Resources"][0]["Name"],
                               "Location": {"BaseLocation": account_url, "RelativeLocation": relative, "SasBlobToken": "?" + sas}}]}
        r = session.patch(url, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"}, verify=emu.ca, timeout=60)
        if r.status_code >= 300:
            raise RuntimeError(f"bare PATCH {name}: {r.status_code} {r.text[:200]}")
        session.get(url, headers=headers, verify=emu.ca, timeout=60).json()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(JOBS) as pool:
        list(pool.map(row, names))
    return time.perf_counter() - t0


def run(quick: bool = False) -> list[Result]:
    rows = 160 if quick else ROWS
    sample = 16 if quick else SAMPLE
    say(f"4. fleet throughput ({rows} rows, {LATENCY * 1000:.0f} ms latency per request, --jobs {JOBS})")
    results: list[Result] = []
    with azurite() as cs, emulator(storage=cs) as emu, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = client_env(emu, work)
        t = demo_targets(emu)
        model = upload_blob(cs, "models", "bench/fleet.ilearner", emulator_model())
        model2 = upload_blob(cs, "models", "bench/fleet2.ilearner", emulator_model(intercept=60.0))
        results += measure("endpoint patch", emu, env, work, t, rows, sample, "pt", {"model": model}, [],
                           again=[{"model": model2}, {"model": model}], floor=3)
        emu.control("POST", "faults", {"kind": "latency", "seconds": LATENCY, "api": "*"})
        try:  # the baseline on the same endpoints, now at the first model again: every PATCH changes them
            bare = bare_requests(emu, t, [f"pt{i:04d}" for i in range(rows)], model2)
        finally:
            emu.control("DELETE", "faults")
        ideal = rows * 3 * LATENCY / JOBS
        say(f"   endpoint patch, bare requests: {rows} rows in {bare:.1f} s ({bare / ideal:.2f}x the ideal bound)")
        results.append(Result("fleet", "endpoint patch: bare requests / ideal bound (info)", bare / ideal, "info", True,
                              detail=f"{bare:.1f} s: the same 3 requests a row from {JOBS} threads with requests alone"))
        data = upload_blob(cs, "data", "bench/bike.csv", bike_csv(60, 1))
        # as the service runs them: Start returns at once, the job runs (Azurite reads and writes,
        # training) and the first status poll after it is done reports Finished
        emu.control("POST", "transitions", {"bes": {"mode": "polls", "count": 0}})
        retrain_columns = {"training_url": t["training_url"], "data": data}
        results += measure("full retrain", emu, env, work, t, rows, sample, "rt", retrain_columns, ["--poll-interval", "0.05"],
                           again=[retrain_columns] * 2, floor=7)  # each run trains and deploys a new model on every row
        counts = Counter(e["operation"] for e in emu.requests())
        say("   emulator operations: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "Control"))
    return results
