"""The demo (`python demo/run_demo.py`): the public CLI retrains against Azurite + the emulator, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end_and_predictions_change():
    env = dict(os.environ)
    r = subprocess.run([sys.executable, str(REPO / "demo" / "run_demo.py")], capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    out = r.stdout
    assert out.count("gate passed") == 2 and out.count("update verified") == 2
    assert "The predictions changed" in out
    assert "exit code 5" in out
    assert "After the rollback the endpoint scores with its previous model again." in out
    # the Azure ML v2 part: a rollout, a failed smoke step that restores the split, a rollback to version 1
    assert "green now takes the traffic (green=100); blue removed" in out
    assert "-> exit code 5 (5 = a smoke step failed)" in out and "traffic restored to green=100" in out
    assert "traffic now: blue=100; the predictions are version 1's again." in out
    assert "Stopping what the demo started" in out
