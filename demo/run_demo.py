#!/usr/bin/env python3
"""The amlws demo: retrain a model and update a classic endpoint and an ARM web service, locally.

No Azure account and no network: it starts Azurite (the Azure Storage emulator from npm) and the
amlws emulator (classic + ARM + BES/RRS on https://127.0.0.1), generates a small bike-rental
dataset, and drives the public ``amlws`` CLI exactly as you would against Azure:

    1. score a few rows            amlws invoke --url <endpoint ApiLocation> --input-file rows.csv
    2. retrain + gate + deploy     amlws retrain --data new.csv --training-service <BES URL> --target <endpoint> --gate ...
    3. score again                 (predictions change: the endpoint now uses the new model)
    ... then the same for the ARM web service, named by its resource ID alone (amlws invoke ID),
    ... then an Azure ML v2 online endpoint: amlws rollout (blue/green, version 1 -> 2), a rollout whose
    smoke step fails (traffic restored), and amlws rollback ENDPOINT (back to version 1);
    ... and an Azure ML v2 retrain (amlws retrain DEPLOYMENT --from-job J --input train=... --gate "r2>=0.8"):
    new data passes the gate and is deployed, bad data fails it and changes nothing, then history --metrics.

Everything it starts is stopped at the end, also on failure or Ctrl-C. Run it with the project's
Python after ``pip install -e .`` and ``npm install`` at the repo root:  python demo/run_demo.py
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from amlws.emulator.azurite import stop_process

REPO = Path(__file__).resolve().parents[1]
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
GATE = "Coefficient of Determination>=0.5"
V2_GATE = "r2>=0.8"
STEP_TIMEOUT = 120


def say(text: str = "") -> None:
    print(text, flush=True)


def step(n: int, text: str) -> None:
    say(f"\n== {n}. {text}")


class DemoError(Exception):
    pass


# --- processes we start ----------------------------------------------------------------------


def start_azurite() -> tuple[subprocess.Popen, int]:
    from amlws.emulator.azurite import AzuriteError
    from amlws.emulator.azurite import start_azurite as start

    try:
        azurite = start(repo=REPO)
    except AzuriteError as exc:
        raise DemoError(str(exc)) from None
    return azurite.process, azurite.port


def amlws_command() -> list[str]:
    scripts = Path(sys.executable).parent
    for name in ("amlws.exe", "amlws"):
        if (scripts / name).exists():
            return [str(scripts / name)]
    return [sys.executable, "-c", "from amlws.cli.application import main; main()"]


def amlws(args: list[str], env: dict[str, str], *, check: bool = True) -> Any:
    """Run the public CLI with ``-o json``; returns the parsed JSON (or raises with its stderr)."""
    shown = " ".join(a if " " not in a else f'"{a}"' for a in args)
    say(f"   $ amlws {shown}")
    r = subprocess.run([*amlws_command(), *args, "-o", "json"], env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    if r.returncode != 0 and check:
        raise DemoError(f"`amlws {args[0]}` failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
    try:
        return json.loads(r.stdout) if r.stdout.strip() else None
    except json.JSONDecodeError:
        return r.stdout


# --- data ------------------------------------------------------------------------------------------


def write_bike_data(path: Path, n: int, seed: int) -> None:
    """Daily bike rentals: more when warm, fewer when humid (a realistic, noisy linear relation)."""
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["temperature", "humidity", "rentals"])
        for _ in range(n):
            t = rnd.uniform(-5, 35)
            h = rnd.uniform(25, 95)
            w.writerow([f"{t:.1f}", f"{h:.0f}", max(0, round(80 + 12 * t - 0.8 * h + rnd.gauss(0, 25)))])


def write_rows(path: Path) -> list[list[str]]:
    rows = [["2.0", "80"], ["12.5", "60"], ["24.0", "45"], ["31.0", "35"]]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["temperature", "humidity"])
        w.writerows(rows)
    return rows


def predictions(result: Any) -> list[float]:
    """Scored Labels from an ``amlws invoke -o json`` result (RRS DataTable or a list of rows)."""
    out = result
    if isinstance(out, dict) and ("Results" in out or "outputs" in out):
        out = out.get("Results") or out.get("outputs")
    if isinstance(out, dict):
        out = out.get("output1", next(iter(out.values())) if out else out)
    if isinstance(out, dict) and "value" in out:
        out = out["value"]
    if isinstance(out, dict) and ("ColumnNames" in out or "columns" in out):
        cols, values = out.get("ColumnNames") or out["columns"], out.get("Values") or out.get("rows") or []
        i = cols.index("Scored Labels")
        return [round(float(v[i]), 1) for v in values]
    if isinstance(out, list):
        return [round(float(r["Scored Labels"]), 1) for r in out]
    raise DemoError(f"unexpected invoke output: {json.dumps(result)[:300]}")


def show_table(rows: list[list[str]], before: list[float], after: list[float] | None = None,
               labels: tuple[str, str] = ("predicted rentals", "after retraining")) -> None:
    say(f"   {'temperature':>11} {'humidity':>8} {labels[0]:>18}" + (f" {labels[1]:>18}" if after else ""))
    for i, row in enumerate(rows):
        line = f"   {row[0]:>11} {row[1]:>8} {before[i]:>18.1f}"
        if after:
            line += f" {after[i]:>18.1f}"
        say(line)


# --- the demo ---------------------------------------------------------------------------------------


def run(workdir: Path) -> None:
    t0 = time.monotonic()
    azurite: subprocess.Popen | None = None
    env = dict(os.environ)
    env.update({"AMLWS_STATE_DIR": str(workdir / "state"), "AMLWS_CONFIG_DIR": str(workdir / "config"), "PYTHONUNBUFFERED": "1"})
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # amlws passes its own CA per request; keep the demo hermetic
        env.pop(var, None)
    emulator_started = False
    try:
        step(1, "Starting Azurite (local Azure Storage) and the amlws emulator (local Azure ML web services)")
        azurite, port = start_azurite()
        storage = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
                   f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
        env["AMLWS_STORAGE_CONNECTION_STRING"] = storage
        say(f"   Azurite blob service on http://127.0.0.1:{port}")
        info = amlws(["emulator", "start", "--seed", "demo"], env)
        emulator_started = True
        env.update(info["env"])
        say(f"   emulator on {info['url']} (certificate: {info['env']['AMLWS_CA_BUNDLE']})")
        seed = info["seed"]
        ws = seed["workspaces"][0]
        training = next(s for s in ws["services"] if s["kind"] == "training")
        scoring = next(s for s in ws["services"] if s["kind"] == "predictive")
        train_api = training["endpoints"][0]["apiLocation"]
        endpoint = next(e for e in scoring["endpoints"] if e["name"] != "default")
        arm_train = next(s for s in seed["armServices"] if s["training"])
        arm_pred = next(s for s in seed["armServices"] if not s["training"])
        say("   Seeded: a classic training service, a classic scoring service with a non-default endpoint "
            f"'{endpoint['name']}',\n   and two ARM web services: '{arm_train['id'].rsplit('/', 1)[-1]}' and "
            f"'{arm_pred['id'].rsplit('/', 1)[-1]}' (its [trained model] asset is the one to replace).")

        step(2, "Generating data: 300 days of bike rentals against temperature and humidity")
        data = workdir / "bike_rentals_new.csv"
        write_bike_data(data, 300, seed=2026)
        rows_file = workdir / "rows.csv"
        rows = write_rows(rows_file)
        say(f"   wrote {data.name} (training data) and {rows_file.name} (4 days to score)")

        step(3, "Classic endpoint: score some rows with the model it uses now")
        before = predictions(amlws(["invoke", "--url", endpoint["apiLocation"], "--input-file", str(rows_file)], env))
        show_table(rows, before)

        step(4, "Classic: retrain on the new data, check the evaluation gate, and update the endpoint")
        result = amlws(["retrain", "--data", str(data), "--training-service", train_api + "/jobs", "--target", endpoint["managementUrl"],
                        "--gate", GATE, "--evaluation-output", "output2", "--poll-interval", "0.2", "--yes"], env)
        say("   " + summarize(result))

        step(5, "Classic endpoint: score the same rows again")
        after = predictions(amlws(["invoke", "--url", endpoint["apiLocation"], "--input-file", str(rows_file)], env))
        show_table(rows, before, after)
        if after == before:
            raise DemoError("the classic endpoint's predictions did not change after retraining")
        say("   The predictions changed: the endpoint now scores with the retrained model.")

        step(6, "ARM web service: score, retrain, update (PATCH + long-running operation), score again")
        say("   (by resource ID alone: amlws finds each service's BES/RRS URL from its swaggerLocation, and its key)")
        arm_before = predictions(amlws(["invoke", arm_pred["id"], "--input-file", str(rows_file)], env))
        result = amlws(["retrain", "--data", str(data), "--training-service", arm_train["id"], "--target", arm_pred["id"],
                        "--gate", GATE, "--evaluation-output", "output2", "--poll-interval", "0.2", "--yes"], env)
        say("   " + summarize(result))
        arm_after = predictions(amlws(["invoke", arm_pred["id"], "--input-file", str(rows_file)], env))
        show_table(rows, arm_before, arm_after)
        if arm_after == arm_before:
            raise DemoError("the ARM web service's predictions did not change after retraining")
        say("   The ARM web service's [trained model] asset now points at the new .ilearner.")

        step(7, "A gate that fails stops the deployment")
        r = subprocess.run([*amlws_command(), "retrain", "--data", str(data), "--training-service", train_api + "/jobs",
                            "--target", endpoint["managementUrl"], "--gate", "Coefficient of Determination>=0.999",
                            "--evaluation-output", "output2", "--poll-interval", "0.2", "--yes"],
                           env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
        say(f"   amlws retrain ... --gate \"Coefficient of Determination>=0.999\" -> exit code {r.returncode} (5 = gate failed)")
        say("   " + (r.stderr.strip().splitlines() or [""])[-1][:300])

        commands = subprocess.run([*amlws_command(), "--help"], capture_output=True, text=True, env=env, timeout=60).stdout
        if "history" in commands and "rollback" in commands:
            step(8, "History and rollback: amlws saved the endpoint's definition before changing it")
            h = amlws(["history", endpoint["managementUrl"]], env, check=False)
            entries = h if isinstance(h, list) else (h or {}).get("revisions") or (h or {}).get("entries") or []
            say(f"   {len(entries)} saved revision(s) for the classic endpoint" if entries else f"   {json.dumps(h)[:300]}")
            try:
                # history never keeps SAS signatures: give rollback a fresh read SAS for the old model blob,
                # as you would with `az storage blob generate-sas`
                saved = amlws(["history", endpoint["managementUrl"], "--revision", str(len(entries) or 1)], env, check=False)
                old = find_location((saved or {}).get("definition") if isinstance(saved, dict) else None)
                sas_env = dict(env)
                if old:
                    say(f"   revision 1 used the model {old['RelativeLocation']}; making a read SAS for it")
                    sas_env["AMLWS_SAS_BLOB_TOKEN"] = read_sas(old["RelativeLocation"])
                amlws(["rollback", endpoint["managementUrl"], "--yes"], sas_env)
                back = predictions(amlws(["invoke", "--url", endpoint["apiLocation"], "--input-file", str(rows_file)], env))
                show_table(rows, after, back, labels=("retrained model", "after rollback"))
                say("   After the rollback the endpoint scores with its previous model again."
                    if back == before else "   (the rollback did not restore the previous predictions)")
            except DemoError as exc:
                say(f"   rollback failed: {exc}")
        v2_part(env, info, rows_file, rows)
        say(f"\nDone in {time.monotonic() - t0:.0f} s: retrained twice, updated a classic endpoint and an ARM web service, "
            "rolled an Azure ML v2 endpoint out and back, retrained it from a training job behind a gate, "
            "and verified the predictions each time.")
    finally:
        say("\nStopping what the demo started...")
        if emulator_started:
            subprocess.run([*amlws_command(), "emulator", "stop"], env=env, capture_output=True, text=True, timeout=30)
        stop_process(azurite)


def v2_part(env: dict[str, str], info: dict[str, Any], rows_file: Path, rows: list[list[str]]) -> None:
    """Azure ML v2: a blue/green rollout from model version 1 to 2, a rollout whose smoke step fails (the
    split is restored), and ``amlws rollback`` of the endpoint back to version 1."""
    endpoint = info["seed"]["mlv2Workspaces"][0]["endpoints"][0]
    ep = endpoint.get("id") or f"{info['seed']['mlv2Workspaces'][0]['id']}/onlineEndpoints/{endpoint['name']}"

    def v2_predictions() -> tuple[str, list[float]]:
        out = amlws(["invoke", ep, "--input-file", str(rows_file)], env)
        return out["deployment"], [round(float(p), 1) for p in out["predictions"]]

    def traffic() -> str:
        props = amlws(["get", ep], env)["properties"]
        return " ".join(f"{k}={v}" for k, v in sorted((props.get("traffic") or {}).items()) if v)

    step(9, "Azure ML v2 managed online endpoint: a blue/green rollout from model version 1 to version 2")
    served, before = v2_predictions()
    say(f"   served by deployment '{served}' (traffic {traffic()})")
    result = amlws(["rollout", ep, "--model", "bike-rentals:2", "--steps", "10,50,100", "--smoke-file", str(rows_file), "--yes"], env)
    say("   " + result["message"])
    served, after = v2_predictions()
    show_table(rows, before, after, labels=("version 1 (blue)", f"version 2 ({served})"))
    if after == before:
        raise DemoError("the v2 endpoint's predictions did not change after the rollout")

    step(10, "A rollout whose smoke test fails half-way is stopped and the traffic split restored")
    fault = {"kind": "scoring_failure", "endpoint": ep.rsplit("/", 1)[-1], "deployment": "canary", "after": 1}
    control(env, "POST", "faults", fault)
    say("   (the emulator's control API makes deployment 'canary' fail from its second scoring request on)")
    r = subprocess.run([*amlws_command(), "rollout", ep, "--model", "bike-rentals:1", "--to", "canary", "--steps", "50,100",
                        "--smoke-file", str(rows_file), "--yes"], env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    say(f"   amlws rollout ... --to canary -> exit code {r.returncode} (5 = a smoke step failed)")
    say("   " + (r.stderr.strip().splitlines() or [""])[-1][:300])
    control(env, "DELETE", "faults")
    say(f"   traffic now: {traffic()}")

    step(11, "amlws rollback ENDPOINT: back to the split from before the first rollout (re-creating 'blue')")
    entries = amlws(["history", ep], env)
    first = next(e["revision"] for e in entries if e["action"] == "rollout")
    amlws(["rollback", ep, "--to", str(first), "--yes"], env)
    served, back = v2_predictions()
    show_table(rows, after, back, labels=("version 2", f"after rollback ({served})"))
    if back != before:
        raise DemoError("the rollback did not restore version 1's predictions")
    say(f"   traffic now: {traffic()}; the predictions are version 1's again.")

    v2_retrain_part(env, info, ep, rows_file, rows, v2_predictions)


def v2_retrain_part(env: dict[str, str], info: dict[str, Any], ep: str, rows_file: Path, rows: list[list[str]],
                    v2_predictions: Any) -> None:
    """Azure ML v2 retraining: a training job on new data whose MLflow metrics pass the gate, its model
    registered and deployed (the predictions change); a job on bad data whose gate fails and changes
    nothing; the metric trend of the deployed retrains."""
    workspace = info["seed"]["mlv2Workspaces"][0]
    job = next(iter(workspace.get("jobs") or {"train-bike-rentals-1": ""}))
    blue = f"{ep}/deployments/blue"
    data = "azureml://datastores/workspaceblobstore/paths/data/bike-rentals/"

    step(12, "Azure ML v2 retrain: a training job on new data, its MLflow metrics, a gate, a new model version, deployed")
    say(f"   (a copy of the completed job '{job}' with another input; deployment 'blue' is updated in place)")
    _, before = v2_predictions()
    result = amlws(["retrain", blue, "--from-job", job, "--input", f"train={data}new.csv", "--gate", V2_GATE,
                    "--smoke-file", str(rows_file), "--yes"], env)
    metrics = result.get("metrics") or {}
    say(f"   job {result['job']}: " + ", ".join(f"{k}={metrics[k]:.3f}" for k in ("r2", "rmse", "mae") if k in metrics)
        + f" -> gate {V2_GATE} passed; registered {result['modelVersion']}, deployed to '{result['deployment']['name']}'")
    _, after = v2_predictions()
    show_table(rows, before, after, labels=("before", f"{result['modelVersion']}"))
    if after == before:
        raise DemoError("the v2 endpoint's predictions did not change after the retrain")

    step(13, "Azure ML v2 retrain on bad data: the gate fails, nothing is registered or deployed")
    r = subprocess.run([*amlws_command(), "retrain", blue, "--from-job", job, "--input", f"train={data}bad.csv",
                        "--gate", V2_GATE, "--yes"], env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    say(f"   amlws retrain ... --input train=...bad.csv --gate \"{V2_GATE}\" -> exit code {r.returncode} (5 = gate failed)")
    say("   " + (r.stderr.strip().splitlines() or [""])[-1][:300])
    _, unchanged = v2_predictions()
    if r.returncode != 5 or unchanged != after:
        raise DemoError("the retrain on bad data was not stopped by its gate")
    say("   The endpoint still serves the model of the first retrain.")

    step(14, "amlws history DEPLOYMENT --metrics: each deployed retrain's metrics, a trend to watch for drift")
    trend = amlws(["history", blue, "--metrics"], env)
    for entry in trend["retrains"]:
        shown = ", ".join(f"{k}={v:.3f}" for k, v in sorted(entry["metrics"].items()) if k in ("r2", "rmse", "mae"))
        say(f"   revision {entry['revision']} ({entry['action']}): {shown}")


def control(env: dict[str, str], method: str, what: str, body: Any = None) -> None:
    """The emulator's control API (faults), trusting its CA."""
    import requests

    url = env["AMLWS_ARM_ENDPOINT"].rstrip("/") + "/_emulator/" + what
    r = requests.request(method, url, json=body, verify=env["AMLWS_CA_BUNDLE"], timeout=30)
    if r.status_code >= 300:
        raise DemoError(f"emulator control {method} {what}: HTTP {r.status_code}")


def find_location(doc: Any) -> dict[str, Any] | None:
    """The first ``{BaseLocation, RelativeLocation, ...}`` object inside a JSON document."""
    if isinstance(doc, dict):
        if "RelativeLocation" in doc and "BaseLocation" in doc:
            return doc
        for v in doc.values():
            found = find_location(v)
            if found:
                return found
    elif isinstance(doc, list):
        for v in doc:
            found = find_location(v)
            if found:
                return found
    return None


def read_sas(relative: str) -> str:
    import datetime as dt

    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    container, blob = relative.lstrip("/").split("/", 1)
    sas = generate_blob_sas("devstoreaccount1", container, blob, account_key=AZURITE_KEY, permission=BlobSasPermissions(read=True),
                            expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    return "?" + sas


def summarize(result: Any) -> str:
    """One plain line from ``amlws retrain -o json``: job, metric, gate, deployment, verification."""
    if not isinstance(result, dict):
        return str(result)[:300]
    steps = result.get("steps") or {}
    parts = []
    job = steps.get("job") or {}
    if job.get("jobId"):
        parts.append(f"BES job {job['jobId'][:8]}… {job.get('status', '')}".strip())
    metrics = (steps.get("evaluation") or {}).get("metrics") or {}
    if "Coefficient of Determination" in metrics:
        parts.append(f"R² = {float(metrics['Coefficient of Determination']):.3f}")
    gate = steps.get("gate") or {}
    if "passed" in gate:
        parts.append("gate passed" if gate["passed"] else "gate FAILED")
    deploy = steps.get("deploy") or {}
    if "verified" in deploy:
        parts.append("update verified (a fresh GET shows the new model)" if deploy["verified"] else "update NOT verified")
    parts.append(f"status: {result.get('status')}")
    return "; ".join(parts)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    import signal

    try:
        signal.signal(signal.SIGTERM, _interrupt)  # clean up on `kill` as on Ctrl-C
    except (ValueError, OSError):
        pass
    workdir = Path(tempfile.mkdtemp(prefix="amlws-demo-"))
    try:
        run(workdir)
        return 0
    except DemoError as exc:
        say(f"\ndemo failed: {exc}")
        return 1
    except KeyboardInterrupt:
        say("\ninterrupted")
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
