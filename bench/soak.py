"""Soak: many mixed operations through the amlws library against the emulator with injected faults.

    .venv/bin/python bench/soak.py [--ops 1000] [--fault-rate 0.1] [--seed 7] [--max-seconds 900] [-o json]

Loopback only; bounded in count (``--ops``) and in time (``--max-seconds``); stops by itself.
Runs the emulator in-process (HTTPS on 127.0.0.1, port 0) and, when Azurite is installed
(``npm install`` at the repo root), Azurite for the classic model blobs.

Before about ``--fault-rate`` of the operations one fault is armed for the next request: 503 with
``Retry-After``, 429 with ``Retry-After``, a dropped connection, a slow response, or a failed
long-running operation. Operations: get, export, patch-ilearner + update (ARM and classic),
classic endpoint add/remove, rollback, BES job submission.

After every operation the emulator's state (read in-process, outside the faults) is compared with
what amlws reported: an update reported applied must be there (else a *lost update*); a failed one
must have left the old state or, when the failure came after the service accepted the change,
the new one (counted as *applied despite the error*, never silently). Every BES submission carries
a marker: a marker on two jobs is a *duplicated job*. At the end the faults are cleared and the
emulator's state must equal the expected state exactly.

Reports: attempted, succeeded, failed with a clear exit code (by code), failed otherwise (bugs),
lost updates (must be 0), duplicated BES jobs (must be 0), final state exact (must be true).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

REPO = Path(__file__).resolve().parents[1]
ARM_MODEL = "https://devstoreaccount1.blob.core.windows.net/models/soak-{n}.ilearner"


# --- Azurite (classic model blobs), when installed ---------------------------------------------------


@contextmanager
def azurite() -> Iterator[str | None]:
    """A loopback Azurite blob service's connection string, or ``None`` when it is not installed."""
    from amlws.emulator.azurite import AzuriteError, start_azurite

    try:
        instance = start_azurite(repo=REPO)
    except AzuriteError:
        yield None
        return
    with instance:
        yield instance.connection_string


def upload_models(connection_string: str, count: int) -> list[str]:
    """``count`` readable .ilearner blobs; returns their URLs with a read SAS."""
    from azure.storage.blob import BlobServiceClient

    from amlws.azure.blob import make_read_sas
    from amlws.emulator import mlmodel

    svc = BlobServiceClient.from_connection_string(connection_string)
    container = svc.get_container_client("soak")
    try:
        container.create_container()
    except Exception:  # noqa: BLE001 - exists
        pass
    urls = []
    for i in range(count):
        model = mlmodel.make_model(label="rentals", coefficients={"temperature": 1.0 + i, "humidity": -0.5}, intercept=float(i))
        container.upload_blob(f"m{i}.ilearner", mlmodel.dumps(model), overwrite=True)
        urls.append(make_read_sas(connection_string, "soak", f"m{i}.ilearner").uri)
    return urls


# --- the soak -----------------------------------------------------------------------------------------


FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("503+Retry-After", {"kind": "status", "status": 503, "retryAfter": 1}),
    ("429+Retry-After", {"kind": "status", "status": 429, "retryAfter": 1}),
    ("connection reset", {"kind": "drop"}),
    ("slow response", {"kind": "latency", "seconds": 0.3}),
    ("failed LRO", {"kind": "lro_failure", "api": "arm", "code": "InternalServerError", "message": "injected by the soak"}),
]


class Soak:
    def __init__(self, server: Any, *, seed: int, fault_rate: float, model_urls: list[str], log: Callable[[str], None]) -> None:
        from amlws.emulator import seed as demo

        self.server = server
        self.emu = server.emulator
        self.rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.model_urls = model_urls
        self.log = log
        self.demo = demo
        self.arm_id = (f"/subscriptions/{demo.DEMO_SUBSCRIPTION}/resourceGroups/{demo.DEMO_RESOURCE_GROUP}"
                       f"/providers/Microsoft.MachineLearning/webServices/{demo.DEMO_ARM_PREDICTIVE}")
        svc = f"{server.url}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}"
        self.svc_url = svc
        self.ep_url = f"{svc}/endpoints/{demo.DEMO_ENDPOINT}"
        self.counts: Counter[str] = Counter()
        self.exit_codes: Counter[int] = Counter()
        self.unclear: list[str] = []
        self.lost: list[str] = []
        self.applied_despite_error = 0
        self.armed: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()  # faults that fired
        self.markers: set[str] = set()
        self.next_endpoint = 0
        self.expected = self.actual()

    # -- the emulator's state, read in-process (no faults, no HTTP) --
    def actual(self) -> dict[str, Any]:
        emu = self.emu
        emu.arm.backend.advance_all()
        dump = emu.store.dump()
        svc = next(v for k, v in dump["arm_service"].items() if k.endswith("/" + self.demo.DEMO_ARM_PREDICTIVE))
        arm_uri = next(a["locationInfo"]["uri"] for a in svc["resource"]["properties"]["assets"].values()
                       if "[trained model]" in a.get("name", ""))
        prefix = f"{self.demo.DEMO_WORKSPACE}/{self.demo.DEMO_PREDICTIVE_SERVICE}/".lower()
        eps = {k.rsplit("/", 1)[1]: v for k, v in dump["classic_endpoint"].items() if k.lower().startswith(prefix)}
        loc = (eps[self.demo.DEMO_ENDPOINT]["Resources"][0].get("Location") or {})
        return {"arm": arm_uri, "classic": loc.get("BaseLocation", "") + loc.get("RelativeLocation", ""),
                "endpoints": sorted(eps)}

    def clear_faults(self) -> None:
        for f in self.emu.faults:
            if f.get("fired"):
                label = next((lab for lab, spec in FAULTS if all(f.get(k) == v for k, v in spec.items())), f["kind"])
                self.faults[label] += int(f["fired"])
        self.emu.clear_faults()

    def jobs(self) -> list[dict[str, Any]]:
        return list((self.emu.store.dump().get("bes_job") or {}).values())

    # -- amlws --
    def host(self) -> Any:
        import amlws.plugins.arm
        import amlws.plugins.classic
        from amlws.config import Settings
        from amlws.host import Host, get_plugin_manager, register_plugin

        pm = get_plugin_manager(load_entrypoints=False)
        register_plugin(pm, amlws.plugins.arm, "arm")
        register_plugin(pm, amlws.plugins.classic, "classic")
        pm.check_pending()
        return Host(pm, Settings.load(yes=True, interactive=False))

    def arm_target(self, host: Any) -> Any:
        return host.resolve(self.arm_id)

    # -- operations: each returns the expected state after success, and the set of acceptable states after failure --
    def op_arm_get(self, host: Any) -> dict[str, Any]:
        d = host.get_definition(self.arm_target(host))
        got = next(a["locationInfo"]["uri"] for a in d.document["properties"]["assets"].values() if "[trained model]" in a.get("name", ""))
        if got != self.expected["arm"]:
            self.lost.append(f"get returned {got}, expected {self.expected['arm']}")
        return self.expected

    def op_export(self, host: Any) -> dict[str, Any]:
        from amlws.safety.rollback import note_export

        t = self.arm_target(host)
        d = host.get_definition(t)
        host.export(d)
        note_export(host, t, d)
        return self.expected

    def op_arm_update(self, host: Any) -> dict[str, Any]:
        from amlws.model import ModelLocation
        from amlws.safety.change import update

        t = self.arm_target(host)
        live = host.get_definition(t)
        doc = host.import_definition(host.export(live), source="soak", backend="arm")
        new = ARM_MODEL.format(n=self.rng.randrange(50))
        patched = host.patch_ilearner(doc, ModelLocation.from_uri(new))
        self.pending = {**self.expected, "arm": new}
        update(host, t, patched, check_export=True)
        return self.pending

    def op_rollback(self, host: Any) -> dict[str, Any]:
        from amlws.errors import NotFoundError
        from amlws.safety.history import History
        from amlws.safety.rollback import rollback

        t = self.arm_target(host)
        try:
            entry = History().get(t.id)
        except NotFoundError:
            return self.expected
        uri = next(a["locationInfo"]["uri"] for a in entry["definition"]["properties"]["assets"].values()
                   if "[trained model]" in a.get("name", ""))
        self.pending = {**self.expected, "arm": uri}
        rollback(host, t)
        return self.pending

    def op_classic_get(self, host: Any) -> dict[str, Any]:
        d = host.get_definition(host.resolve(self.ep_url))
        loc = d.document["Resources"][0]["Location"]
        if loc["BaseLocation"] + loc["RelativeLocation"] != self.expected["classic"]:
            self.lost.append(f"classic get returned {loc}, expected {self.expected['classic']}")
        return self.expected

    def op_classic_update(self, host: Any) -> dict[str, Any]:
        from amlws.model import ModelLocation
        from amlws.safety.change import update

        if not self.model_urls:
            return self.op_classic_get(host)
        t = host.resolve(self.ep_url)
        live = host.get_definition(t)
        location = ModelLocation.from_uri(self.rng.choice(self.model_urls))
        patched = host.patch_ilearner(live, location)
        self.pending = {**self.expected, "classic": location.base_location + location.relative_location}
        update(host, t, patched)
        return self.pending

    def op_endpoint(self, host: Any) -> dict[str, Any]:
        from amlws.plugins.classic import ops
        from amlws.plugins.classic.backend import ref_from

        mine = [e for e in self.expected["endpoints"] if e.startswith("soak")]
        if len(mine) >= 4 or (mine and self.rng.random() < 0.4):
            name = self.rng.choice(mine)
            self.pending = {**self.expected, "endpoints": sorted(set(self.expected["endpoints"]) - {name})}
            ops.remove_endpoint(host, ref_from(host.settings, f"{self.svc_url}/endpoints/{name}"))
        else:
            self.next_endpoint += 1
            name = f"soak{self.next_endpoint}"
            self.pending = {**self.expected, "endpoints": sorted(set(self.expected["endpoints"]) | {name})}
            ops.add_endpoint(host, ref_from(host.settings, f"{self.svc_url}/endpoints/{name}"), description="soak")
        return self.pending

    def op_bes_submit(self, host: Any) -> dict[str, Any]:
        from amlws.studio.bes import BesClient

        dump = self.emu.store.dump()["classic_endpoint"]
        training = next(v for k, v in dump.items() if self.demo.DEMO_TRAINING_SERVICE in k and k.endswith("/default"))
        marker = f"soak-{len(self.markers)}"
        self.markers.add(marker)
        client = BesClient(training["ApiLocation"], self.demo.DEMO_API_KEY, settings=host.settings)
        try:
            client.submit({"Inputs": {"input1": {"ConnectionString": "UseDevelopmentStorage=true", "RelativeLocation": "in/train.csv"}},
                           "GlobalParameters": {"soak-marker": marker}})
        finally:
            client.http.close()
        return self.expected

    OPS: ClassVar[list[tuple[str, int]]] = [
        ("op_arm_get", 16), ("op_export", 12), ("op_arm_update", 22), ("op_rollback", 10),
        ("op_classic_get", 8), ("op_classic_update", 14), ("op_endpoint", 12), ("op_bes_submit", 6),
    ]

    #: requests every run of the operation sends at least (a fault may hit any of them)
    REQUESTS: ClassVar[dict[str, int]] = {"op_arm_get": 1, "op_export": 1, "op_arm_update": 4, "op_rollback": 4, "op_classic_get": 1,
                "op_classic_update": 3, "op_endpoint": 2, "op_bes_submit": 1}

    def step(self, i: int) -> None:
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        name = self.rng.choices(names, weights)[0]
        fault = None
        if self.rng.random() < self.fault_rate:
            # a failed long-running operation only where there is one (ARM update, rollback)
            kinds = FAULTS if name in ("op_arm_update", "op_rollback") else [f for f in FAULTS if f[1]["kind"] != "lro_failure"]
            label, spec = self.rng.choice(kinds)
            fault = label
            self.armed[label] += 1
            # on any of the operation's requests (GET, PATCH, a poll, the final GET...), so that it fires
            after = self.rng.randrange(self.REQUESTS[name]) if spec["kind"] != "lro_failure" else 0
            self.emu.add_fault({**spec, "times": 1, "after": after})
        before = self.expected
        self.pending = before
        self.counts["attempted"] += 1
        from amlws.errors import AmlwsError

        try:
            after = getattr(self, name)(self.host())
        except AmlwsError as exc:
            self.counts["failed_clear"] += 1
            self.exit_codes[int(exc.exit_code)] += 1
            self.clear_faults()
            now = self.actual()
            if now == before:
                pass
            elif now == self.pending:
                self.applied_despite_error += 1  # the service took it before the failure (reported, then re-read)
            else:
                self.lost.append(f"#{i} {name} failed ({exc.message}) and left {now}, expected {before} or {self.pending}")
            self.expected = now
            return
        except Exception as exc:  # noqa: BLE001 - a bug: counted and reported
            self.unclear.append(f"#{i} {name} (fault {fault}): {type(exc).__name__}: {exc}")
            self.clear_faults()
            self.expected = self.actual()
            return
        self.clear_faults()
        self.counts["succeeded"] += 1
        now = self.actual()
        if now != after:
            self.lost.append(f"#{i} {name} succeeded but the service has {now}, expected {after}")
        self.expected = now

    def duplicated_jobs(self) -> int:
        seen = Counter(j.get("globalParameters", {}).get("soak-marker") for j in self.jobs())
        return sum(c - 1 for m, c in seen.items() if m in self.markers and c > 1)


def run(ops: int = 1000, *, fault_rate: float = 0.1, seed: int = 7, max_seconds: float = 900.0,
        storage_connection_string: str | None = None, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run the soak; returns the report (see the module docstring)."""
    from amlws.emulator.server import EmulatorServer
    from amlws.safety.history import History

    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="amlws-soak-")
    saved = dict(os.environ)
    try:
        with EmulatorServer(seed="demo", cert_dir=Path(tmp) / "certs", storage_connection_string=storage_connection_string,
                            settings={"transitions": {"arm_lro": {"mode": "time", "seconds": 0.05}},
                                      "check_models": False}) as server:  # ARM_MODEL URIs are made up
            for k in [k for k in os.environ if k.startswith("AMLWS_")]:
                del os.environ[k]
            os.environ.update(server.env())
            os.environ.update({"AMLWS_STATE_DIR": str(Path(tmp) / "state"), "AMLWS_CONFIG_DIR": str(Path(tmp) / "config"),
                               "AMLWS_POLL_INTERVAL": "0.02"})
            urls = upload_models(storage_connection_string, 5) if storage_connection_string else []
            soak = Soak(server, seed=seed, fault_rate=fault_rate, model_urls=urls, log=log)
            for i in range(ops):
                if time.monotonic() - started > max_seconds:
                    log(f"stopping after {i} operations: --max-seconds {max_seconds:g} reached")
                    break
                soak.step(i)
                if (i + 1) % 100 == 0:
                    log(f"{i + 1} operations, {soak.counts['failed_clear']} failed cleanly, {len(soak.lost)} lost")
            server.emulator.clear_faults()
            final = soak.actual()
            history_entries = len(History().list(soak.arm_id))
            duplicated = soak.duplicated_jobs()
            jobs = len(soak.jobs())
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "attempted": soak.counts["attempted"],
        "succeeded": soak.counts["succeeded"],
        "failedWithClearExitCode": soak.counts["failed_clear"],
        "exitCodes": {str(k): v for k, v in sorted(soak.exit_codes.items())},
        "failedOtherwise": len(soak.unclear),
        "lostUpdates": len(soak.lost),
        "appliedDespiteError": soak.applied_despite_error,
        "duplicatedBesJobs": duplicated,
        "besSubmissions": len(soak.markers),
        "besJobsCreated": jobs,
        "finalStateExact": final == soak.expected,
        "faultsArmed": dict(soak.armed),
        "faultsInjected": dict(soak.faults),
        "classicPatches": bool(soak.model_urls),
        "armHistoryEntries": history_entries,
        "seconds": round(time.monotonic() - started, 1),
        "problems": (soak.lost + soak.unclear)[:20],
    }
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", type=int, default=1000)
    p.add_argument("--fault-rate", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--max-seconds", type=float, default=900.0)
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    with azurite() as cs:
        report = run(args.ops, fault_rate=args.fault_rate, seed=args.seed, max_seconds=args.max_seconds,
                     storage_connection_string=cs, log=lambda s: print(s, file=sys.stderr, flush=True))
    ok = report["lostUpdates"] == 0 and report["duplicatedBesJobs"] == 0 and report["finalStateExact"] and not report["failedOtherwise"]
    if args.output == "json":
        print(json.dumps({**report, "ok": ok}, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:26} {v}")
        print(f"{'result':26} {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
