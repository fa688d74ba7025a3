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
    assert "Stopping what the demo started" in out
