"""``amlws fleet run`` rows naming Azure ML v2 targets with a ``model``: a deployment is updated in
place (GET, GET model, PUT, poll, GET), an endpoint gets a rollout (a new deployment, traffic moved,
the old one removed). core/fleet names no backend: ``host.deploy_model`` then ``host.patch_model``."""

from __future__ import annotations

import json
from pathlib import Path

from .test_rollout import EP, V2, WS, observers, v2, version_of  # noqa: F401 - fixtures

__all__ = ["observers", "v2"]


def test_a_fleet_with_mlv2_rows_updates_a_deployment_in_place_and_rolls_out_an_endpoint(v2: V2, tmp_path: Path):
    manifest = tmp_path / "fleet.csv"
    manifest.write_text("key,target,model\n"
                        f"in-place,{EP}/deployments/blue,bike-rentals:2\n"
                        f"rollout,{EP},azureml:bike-rentals:1\n", encoding="utf-8")
    v2.control("DELETE", "requests")
    code, out, err = v2.run("fleet", "run", str(manifest), "--jobs", "1", "--yes", "-o", "json")
    assert code == 0, err + out
    summary = json.loads(out)
    assert summary["counts"] == {"deployed": 2}, summary
    assert all(r["verified"] for r in summary["rows"]), summary

    writes = [r["operation"] for r in v2.requests_log() if r["method"] in ("PUT", "DELETE")]
    # row 1: one PUT of blue (in place); row 2: create green, 3 traffic PUTs, remove blue
    assert writes == ["OnlineDeployments_CreateOrUpdate", "OnlineDeployments_CreateOrUpdate"] + \
        ["OnlineEndpoints_CreateOrUpdate"] * 3 + ["OnlineDeployments_Delete"]
    assert v2.deployments() == {"green"}
    assert version_of(v2.arm("GET", EP + "/deployments/green").json()) == "1"
    assert v2.traffic() == {"green": 100}
    assert [e["action"] for e in v2.history(EP + "/deployments/blue")] == ["fleet", "remove"]
    assert [e["action"] for e in v2.history(EP)] == ["fleet"]


def test_a_studio_url_in_an_mlv2_row_fails_that_row_with_exit_2(v2: V2, tmp_path: Path):
    manifest = tmp_path / "fleet.csv"
    manifest.write_text("key,target,model\n"
                        f"bad,{EP}/deployments/blue,https://acct.blob.core.windows.net/c/model.ilearner\n", encoding="utf-8")
    code, out, err = v2.run("fleet", "run", str(manifest), "--yes", "-o", "json")
    row = json.loads(out)["rows"][0]
    assert code != 0 and row["status"] == "failed" and row["exitCode"] == 2, row
    assert "Studio model location" in row["error"]
    assert v2.ops()["OnlineDeployments_CreateOrUpdate"] == 0
