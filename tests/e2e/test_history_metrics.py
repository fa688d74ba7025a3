"""``amlws history TARGET --metrics``: the metrics recorded with each deployed retrain, newest last --
Studio retrains on the emulator (their Evaluate Model numbers) and synthetic history entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amlws.emulator import seed as demo
from amlws.safety.history import History

from .conftest import Http, client_env, in_process_cli

ARM_TARGET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearning/webServices/svc"


@pytest.fixture
def cli(emulator_storage: Any, azurite: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Any:
    client_env(emulator_storage, tmp_path, monkeypatch)
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", azurite.connection_string)
    return in_process_cli(capsys)


def data_file(tmp_path: Path, name: str, noise: int) -> Path:
    """Rentals = 50 + 10 t - h, with ``noise`` added to every other row (a worse fit as it grows)."""
    rows = "".join(f"{t},{h},{50 + 10 * t - h + (noise if (t + h) % 2 else -noise)}\n" for t in range(0, 30, 3) for h in (30, 60, 90))
    path = tmp_path / name
    path.write_text("temperature,humidity,rentals\n" + rows)
    return path


def test_three_studio_retrains_show_as_a_trend_and_a_gate_failure_is_not_in_it(cli: Any, emulator_storage: Any,
                                                                               tmp_path: Path) -> None:
    http = Http(emulator_storage)
    svc = demo.DEMO_PREDICTIVE_SERVICE
    code, out, err = cli("classic", "endpoints", "add", "--service", svc, "--endpoint", "trend001", "--yes", "-o", "json")
    assert code == 0, err
    target = json.loads(out)["target"]
    train = http.get(f"/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_TRAINING_SERVICE}/endpoints/default",
                     headers={"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}).json()["ApiLocation"]

    def retrain(data: Path, gate: str, code: int = 0) -> Any:
        got, out, err = cli("retrain", "--data", str(data), "--training-service", train + "/jobs", "--target", target,
                            "--gate", gate, "--evaluation-output", "output2", "--poll-interval", "0.1", "--yes", "-o", "json")
        assert got == code, err
        return json.loads(out) if code == 0 else None

    evaluations = [retrain(data_file(tmp_path, f"d{n}.csv", n), "Coefficient of Determination>=0.1")["steps"]["evaluation"]["metrics"]
                   for n in (0, 5, 10)]
    retrain(data_file(tmp_path, "worse.csv", 20), "Mean Absolute Error<=0", code=5)  # gate fails: nothing deployed, no row

    code, out, err = cli("history", target, "--metrics", "-o", "json")
    assert code == 0, err
    trend = json.loads(out)
    assert trend["target"] == target and len(trend["retrains"]) == 3
    assert [r["action"] for r in trend["retrains"]] == ["retrain"] * 3
    r2 = "Coefficient of Determination"
    assert trend["trend"][r2] == [e[r2] for e in evaluations]  # newest last, the numbers as evaluated
    assert trend["trend"][r2][0] > trend["trend"][r2][2]  # more noise, worse fit
    code, out, err = cli("history", target, "--metrics")
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith(r2))
    assert "█" in line and "▁" in line and "→" in line


def test_synthetic_entries_newest_last_only_applied_ones_with_metrics(cli: Any, tmp_path: Path) -> None:
    h = History()
    for values, status in (({"r2": 0.9, "mae": 3.0}, "applied"), (None, "applied"), ({"r2": 0.5}, "failed"),
                           ({"r2": 0.95, "rmse": 2.0}, "applied")):
        entry = h.record(ARM_TARGET, "arm", {"p": 1}, action="retrain", metrics=values)
        h.mark(ARM_TARGET, entry["revision"], status)
    code, out, err = cli("history", ARM_TARGET, "--metrics", "-o", "json")
    assert code == 0, err
    trend = json.loads(out)
    assert [r["revision"] for r in trend["retrains"]] == [1, 4]
    assert trend["metrics"] == ["r2", "mae", "rmse"]
    assert trend["trend"] == {"r2": [0.9, 0.95], "mae": [3.0, None], "rmse": [None, 2.0]}
    code, out, _ = cli("history", ARM_TARGET, "--metrics")
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln and ln.split()[0] in ("r2", "mae", "rmse")}
    assert "▁█" in lines["r2"] and "0.9 → 0.95" in lines["r2"]
    assert "▅ " in lines["mae"]  # one value: a middle bar, a gap for the retrain that did not log it
    # plain history is unchanged: no metrics key in its rows
    code, out, _ = cli("history", ARM_TARGET, "-o", "json")
    assert code == 0 and all("metrics" not in row for row in json.loads(out))


def test_no_retrain_with_metrics_is_exit_3(cli: Any) -> None:
    h = History()
    h.mark(ARM_TARGET, h.record(ARM_TARGET, "arm", {"p": 1}, action="update")["revision"], "applied")
    code, _, err = cli("history", ARM_TARGET, "--metrics")
    assert code == 3 and "recorded metrics" in err
