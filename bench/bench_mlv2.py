"""6. Azure ML v2: requests per operation, and the peer comparison with ``azure-ai-ml``.

- ``amlws update DEPLOYMENT --service-updates FILE`` (after ``export`` + ``patch-model``): GET (the
  live deployment, saved to history) + GET the model version + PUT + status polls + the final GET,
  nothing more.
- ``amlws rollout ENDPOINT --model M --steps 10,50,100`` (no smoke file): its reads (endpoint,
  deployments, model version), the create (PUT + polls + read-back), per step a read of the split
  then the endpoint PUT (+ polls + read-back), then the old deployment's read (saved to its
  history) and DELETE (+ polls). Counted and matched against that pattern.
- Start-up to answer: ``amlws get DEPLOYMENT`` against a script doing the same GET with
  ``azure-ai-ml``'s ``MLClient`` (``online_deployments.get``), both whole processes timed by this
  harness the same way (median of interleaved runs, one warm-up round), against the emulator.
  Target: amlws >= 5x faster. ``azure-ai-ml`` is installed into a separate virtual environment for
  the benchmark only (``AMLWS_BENCH_PEER_ENV``, default ``<tmp>/amlws-bench-azure-ai-ml``), never
  into amlws's; when it cannot be installed the line is skipped with a note (recorded as missed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPEATS, STATISTIC, Result, Side, amlws_exe, client_env, emulator, run_amlws, run_command, say, time_sides

SUB = "00000000-0000-4000-8000-000000000001"
WS = f"/subscriptions/{SUB}/resourceGroups/amlws-demo/providers/Microsoft.MachineLearningServices/workspaces/amlws-demo-ws"
EP = f"{WS}/onlineEndpoints/bike-rentals-ep"
POLLS = "(MfeOperationsStatus_Get )+"
#: matched against the operations joined with a space after each
UPDATE_PATTERN = f"OnlineDeployments_Get ModelVersions_Get OnlineDeployments_CreateOrUpdate {POLLS}OnlineDeployments_Get "
ROLLOUT_PATTERN = (f"OnlineEndpoints_Get OnlineDeployments_List ModelVersions_Get "
                   f"OnlineDeployments_CreateOrUpdate {POLLS}OnlineDeployments_Get "
                   f"(OnlineEndpoints_Get OnlineEndpoints_CreateOrUpdate {POLLS}OnlineEndpoints_Get ){{3}}"
                   f"OnlineDeployments_Get OnlineDeployments_Delete {POLLS}")
TARGET = 5.0

PEER_SCRIPT = '''
import os
from azure.ai.ml import MLClient
from azure.core.credentials import AccessToken


class Token:
    def get_token(self, *scopes, **kwargs):
        return AccessToken(os.environ["AMLWS_ARM_TOKEN"], 4102444800)


client = MLClient(Token(), os.environ["PEER_SUBSCRIPTION"], "amlws-demo", "amlws-demo-ws")
deployment = client.online_deployments.get(name="blue", endpoint_name="bike-rentals-ep")
print(deployment.name, deployment.model)
'''


def peer_python() -> tuple[Path | None, str]:
    """The python of a virtual environment with azure-ai-ml (made once), or ``None`` and why not."""
    root = Path(os.environ.get("AMLWS_BENCH_PEER_ENV") or Path(tempfile.gettempdir()) / "amlws-bench-azure-ai-ml")
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    check = [str(python), "-c", "import azure.ai.ml, sys; print(azure.ai.ml.__version__)"]
    if python.exists():
        r = subprocess.run(check, capture_output=True, text=True)
        if r.returncode == 0:
            return python, r.stdout.strip()
    say(f"   installing azure-ai-ml into {root} (for this benchmark only)...")
    made = subprocess.run([sys.executable, "-m", "venv", str(root)], capture_output=True, text=True)
    if made.returncode != 0:
        return None, f"cannot make a virtual environment: {made.stderr.strip()[-200:]}"
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "azure-ai-ml"], capture_output=True, text=True, timeout=1200)
    if pip.returncode != 0:
        return None, f"pip install azure-ai-ml failed: {(pip.stderr.strip().splitlines() or ['?'])[-1][:200]}"
    r = subprocess.run(check, capture_output=True, text=True)
    return (python, r.stdout.strip()) if r.returncode == 0 else (None, "azure-ai-ml does not import after install")


def operations(emu, since: int) -> list[str]:
    return [e["operation"] for e in emu.requests(since) if e["api"] == "mlv2"]


def run(quick: bool = False) -> list[Result]:
    say("6. Azure ML v2: requests per operation; start-up to answer against azure-ai-ml")
    results: list[Result] = []
    with emulator() as emu, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = client_env(emu, work)
        deployment = f"{EP}/deployments/blue"

        exported, patched = work / "blue.json", work / "blue-2.json"
        run_amlws(["export", deployment, "-f", str(exported), "--force"], env)
        run_amlws(["patch-model", str(exported), "--model", "bike-rentals:2", "-f", str(patched)], env)
        since = emu.last_seq()
        run_amlws(["update", deployment, "--service-updates", str(patched), "--yes"], env)
        ops = operations(emu, since)
        ok = re.fullmatch(UPDATE_PATTERN, "".join(o + " " for o in ops)) is not None
        say(f"   update: {len(ops)} requests: {' '.join(ops)}")
        results.append(Result("mlv2", "v2 update: requests", len(ops), "GET + GET model + PUT + polls + GET", ok, unit="",
                              detail=", ".join(ops)))

        since = emu.last_seq()
        run_amlws(["rollout", EP, "--model", "bike-rentals:1", "--steps", "10,50,100", "--yes"], env)
        ops = operations(emu, since)
        polls = ops.count("MfeOperationsStatus_Get")
        ok = re.fullmatch(ROLLOUT_PATTERN, "".join(o + " " for o in ops)) is not None
        say(f"   3-step rollout: {len(ops)} requests ({polls} of them status polls): {' '.join(ops)}")
        results.append(Result("mlv2", "v2 3-step rollout: requests", len(ops),
                              "3 reads + create + 3x(read + PUT) + read + DELETE, polls and read-backs", ok, unit="",
                              detail=f"{len(ops) - polls} + {polls} polls: " + ", ".join(o for o in ops if o != "MfeOperationsStatus_Get")))

        # the peer comparison: start-up to the answer of one GET of the deployment (green now serves)
        python, why = peer_python()
        if python is None:
            say(f"   skipped the azure-ai-ml comparison: {why}")
            results.append(Result("mlv2", "amlws get vs azure-ai-ml MLClient: skipped", 0.0, f">= {TARGET:.0f}x faster", False,
                                  detail=f"not measured: {why}"))
            return results
        script = work / "peer_get.py"
        script.write_text(PEER_SCRIPT.replace('name="blue"', 'name="green"'), encoding="utf-8")
        peer_env = {**env, "AZUREML_DEV_URL_MFE": emu.url, "REQUESTS_CA_BUNDLE": emu.ca, "PEER_SUBSCRIPTION": SUB}
        target = f"{EP}/deployments/green"
        amlws = [amlws_exe(), "get", target, "-o", "json"]
        repeats = REPEATS if quick else 7
        timing = time_sides({"amlws": Side(lambda i: run_command(amlws, env)),
                             "azure-ai-ml": Side(lambda i: run_command([str(python), str(script)], peer_env))},
                            repeats=repeats, warmup=1)
        mine, peer = timing["amlws"], timing["azure-ai-ml"]
        ratio = peer.value / mine.value
        results.append(Result("mlv2", "amlws get DEPLOYMENT vs azure-ai-ml MLClient", ratio, f">= {TARGET:.0f}x faster",
                              ratio >= TARGET,
                              detail=f"{mine.value * 1000:.0f} ms vs {peer.value * 1000:.0f} ms ({STATISTIC} of {repeats}: amlws "
                                     f"{mine.runs(1000, 'ms', 0)}; azure-ai-ml {why} {peer.runs(1000, 'ms', 0)}), whole processes, "
                                     "one GET each against the emulator"))
    return results
