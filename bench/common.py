"""Shared pieces of the benchmarks: timing, results, and the local services (Azurite, the emulator).

Every benchmark measures its baseline in the same run, on the same machine, and reports a
:class:`Result` (measured value, target, pass/fail). Services run in their own processes so
that the client under test does not share a GIL with them.

**Timing** goes through one helper, :func:`time_sides`: every side of a comparison (amlws and its
baselines) is timed by this harness's wall clock (``time.perf_counter`` around the whole call,
usually a whole process), the same number of times, interleaved (repeat 1 of every side, then
repeat 2, ...) so that a busy spell on a shared machine falls on every side alike, and each
side's value is the **median** of its repeats. No side is timed by its own clock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlws.emulator.azurite import ACCOUNT_KEY as AZURITE_KEY  # the well-known demo key

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
AZURITE_PID: int | None = None  # of the running azurite() (for CPU accounting)


@dataclass
class Result:
    """One measured ratio (or count) against its target."""

    bench: str
    name: str
    value: float
    target: str
    ok: bool
    unit: str = "x"
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        mark = "ok  " if self.ok else "MISS"
        shown = f"{self.value:.2f}{self.unit}" if isinstance(self.value, float) else f"{self.value}{self.unit}"
        return f"  [{mark}] {self.name:<48} {shown:>10}  target {self.target}" + (f"  ({self.detail})" if self.detail else "")


def say(text: str = "") -> None:
    print(text, flush=True)


def amlws_exe() -> str:
    for name in ("amlws.exe", "amlws"):
        if (BIN / name).exists():
            return str(BIN / name)
    raise SystemExit("amlws is not installed in this environment: run make setup")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLWS_") and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update(extra)
    return env


#: Repeats of every side of a timed comparison (odd: the median is one real run).
REPEATS = 3
#: How a side's repeats become its value (printed with the results).
STATISTIC = "median"


@dataclass
class Side:
    """One side of a timed comparison.

    :param run: the timed part, given the repeat index (0-based; warm-up runs get negative ones).
    :param before: untimed, before the clock starts (e.g. a CPU snapshot); its result goes to ``after``.
    :param after: untimed, after the clock stops: ``(index, run's result, before's result)`` -> what
        :attr:`Timing.results` keeps for that repeat (default: the run's result).
    """

    run: Callable[[int], Any]
    before: Callable[[int], Any] | None = None
    after: Callable[[int, Any, Any], Any] | None = None


@dataclass
class Timing:
    """The wall times of one side's repeats, in order, and what each repeat returned."""

    seconds: list[float]
    results: list[Any]

    @property
    def index(self) -> int:
        """The median repeat (the middle one of an odd number, so a real run)."""
        order = sorted(range(len(self.seconds)), key=lambda i: self.seconds[i])
        return order[(len(order) - 1) // 2]

    @property
    def value(self) -> float:
        """The side's time: the median of its repeats."""
        return self.seconds[self.index]

    @property
    def result(self) -> Any:
        """What the median repeat returned."""
        return self.results[self.index]

    def runs(self, scale: float = 1.0, unit: str = "s", digits: int = 1) -> str:
        return ", ".join(f"{x * scale:.{digits}f}" for x in self.seconds) + f" {unit}"


def time_sides(sides: dict[str, Side | Callable[[int], Any]], *, repeats: int = REPEATS, warmup: int = 0,
               clock: Callable[[], float] = time.perf_counter) -> dict[str, Timing]:
    """Time every side ``repeats`` times with this harness's clock, interleaved, after ``warmup``
    unmeasured rounds; each side's :attr:`Timing.value` is the median of its repeats."""
    if repeats < 1 or repeats % 2 == 0:
        raise ValueError(f"repeats must be odd (the median is then one real run), not {repeats}")
    plan = {name: side if isinstance(side, Side) else Side(side) for name, side in sides.items()}
    out = {name: Timing([], []) for name in plan}
    for i in range(-warmup, repeats):
        for name, side in plan.items():
            prepared = side.before(i) if side.before else None
            t0 = clock()
            got = side.run(i)
            seconds = clock() - t0
            if i >= 0:
                out[name].seconds.append(seconds)
                out[name].results.append(side.after(i, got, prepared) if side.after else got)
    return out


def run_command(cmd: list[str], env: dict[str, str] | None = None) -> None:
    """Run ``cmd`` with its output discarded; a failure stops the benchmark (a failed run is not a time)."""
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-500:]}")


# --- Azurite -----------------------------------------------------------------------------------


@contextmanager
def azurite() -> Iterator[str]:
    """Azurite on a free port; yields its full connection string."""
    from amlws.emulator.azurite import AzuriteError, start_azurite

    global AZURITE_PID
    try:
        instance = start_azurite(repo=REPO)
    except AzuriteError as exc:
        raise SystemExit(str(exc)) from None
    AZURITE_PID = instance.pid
    with instance:
        yield instance.connection_string


def stop(proc: subprocess.Popen) -> None:
    from amlws.emulator.azurite import stop_process

    stop_process(proc)


# --- the emulator, in its own process ------------------------------------------------------------


class Emulator:
    """``python -m amlws.emulator serve`` in a subprocess, driven through its control plane."""

    def __init__(self, info: dict[str, Any], proc: subprocess.Popen) -> None:
        import requests

        self.info = info
        self.proc = proc
        self.url = info["url"]
        self.env = dict(info["env"])
        self.ca = self.env["AMLWS_CA_BUNDLE"]
        self.seed = info.get("seed") or {}
        self.session = requests.Session()
        self.session.trust_env = False

    def control(self, method: str, what: str, body: Any = None) -> Any:
        r = self.session.request(method, f"{self.url}/_emulator/{what}", json=body, verify=self.ca, timeout=60)
        if r.status_code >= 300:
            raise RuntimeError(f"emulator control {method} {what}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return self.control("GET", f"requests?since={since}")["requests"]

    def last_seq(self) -> int:
        log = self.requests()
        return log[-1]["seq"] if log else 0

    def clear_log(self) -> None:
        self.control("DELETE", "requests")


@contextmanager
def emulator(storage: str | None = None, seed: str = "demo") -> Iterator[Emulator]:
    work = Path(tempfile.mkdtemp(prefix="amlws-bench-emulator-"))
    ready = work / "ready.json"
    cmd = [sys.executable, "-m", "amlws.emulator", "serve", "--port", "0", "--seed", seed, "--cert-dir", str(work / "certs"),
           "--ready-file", str(ready)]
    if storage:
        cmd += ["--storage-connection-string", storage]
    log = open(work / "emulator.log", "wb")  # noqa: SIM115 - the emulator writes to it until the finally below closes it
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=clean_env())
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the emulator did not start: " + (work / "emulator.log").read_text(errors="replace")[-2000:])
            time.sleep(0.05)
        info = json.loads(ready.read_text(encoding="utf-8"))
        emu = Emulator(info, proc)
        yield emu
    finally:
        try:
            emu.control("POST", "shutdown")  # type: ignore[possibly-undefined]
            proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - it is stopped below anyway
            pass
        stop(proc)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def client_env(emu: Emulator, state_dir: Path, **extra: str) -> dict[str, str]:
    env = clean_env(**emu.env)
    env["AMLWS_STATE_DIR"] = str(state_dir / "state")
    env["AMLWS_CONFIG_DIR"] = str(state_dir / "config")
    env.update(extra)
    return env


def run_amlws(args: list[str], env: dict[str, str], *, timeout: float = 600, check: bool = True) -> Any:
    """Run the public CLI with ``-o json``; returns (parsed JSON or None, completed process).
    Not a timer: time it with :func:`time_sides`."""
    r = subprocess.run([amlws_exe(), *args, "-o", "json"], env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"amlws {' '.join(args[:2])} failed ({r.returncode}): {r.stderr[-1500:]}")
    try:
        data = json.loads(r.stdout) if r.stdout.strip() else None
    except ValueError:
        data = None
    return data, r


# --- data ----------------------------------------------------------------------------------------


def upload_blob(cs: str, container: str, name: str, data: bytes) -> str:
    """Upload ``data`` to Azurite; returns its URL with a read SAS valid for a day."""
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

    svc = BlobServiceClient.from_connection_string(cs)
    try:
        svc.create_container(container)
    except Exception:  # noqa: BLE001 - exists
        pass
    blob = svc.get_blob_client(container, name)
    blob.upload_blob(data, overwrite=True)
    sas = generate_blob_sas(svc.account_name, container, name, account_key=AZURITE_KEY,
                            permission=BlobSasPermissions(read=True), expiry=datetime.now(timezone.utc) + timedelta(days=1))
    return f"{blob.url}?{sas}"


def emulator_model(coefficients: dict[str, float] | None = None, intercept: float = 50.0) -> bytes:
    """An ``.ilearner`` in the emulator's format (what its BES jobs write)."""
    coefficients = coefficients or {"temperature": 11.5, "humidity": -0.7}
    doc = {"format": "amlws-emulator-ilearner", "version": 1, "algorithm": "linear_regression", "label": "rentals",
           "features": list(coefficients), "intercept": float(intercept), "coefficients": coefficients, "trainingRows": 0}
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def bike_csv(rows: int, seed: int) -> bytes:
    import random

    rnd = random.Random(seed)
    out = ["temperature,humidity,rentals"]
    for _ in range(rows):
        t, h = rnd.uniform(-5, 35), rnd.uniform(25, 95)
        out.append(f"{t:.1f},{h:.0f},{max(0, round(80 + 12 * t - 0.8 * h + rnd.gauss(0, 25)))}")
    return ("\n".join(out) + "\n").encode("utf-8")


def demo_targets(emu: Emulator) -> dict[str, str]:
    """The demo seed's training BES URL, scoring service URL and endpoint, and ARM ids."""
    ws = emu.seed["workspaces"][0]
    training = next(s for s in ws["services"] if s["kind"] == "training")
    scoring = next(s for s in ws["services"] if s["kind"] == "predictive")
    endpoint = next(e for e in scoring["endpoints"] if e["name"] != "default")
    arm_pred = next(s for s in emu.seed["armServices"] if not s["training"])
    arm_train = next(s for s in emu.seed["armServices"] if s["training"])
    return {"training_url": training["endpoints"][0]["apiLocation"] + "/jobs",
            "scoring": endpoint["managementUrl"].rsplit("/endpoints/", 1)[0],
            "endpoint": endpoint["managementUrl"], "arm": arm_pred["id"], "arm_training_url": arm_train["apiLocation"] + "/jobs",
            "workspace": ws["id"], "scoring_id": scoring["id"]}


def process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system) used so far by a running process (Linux /proc; else None)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def children_cpu() -> float:
    """CPU seconds of finished child processes (the amlws runs), where the platform tells."""
    try:
        import resource

        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime
    except (ImportError, OSError):
        return 0.0
