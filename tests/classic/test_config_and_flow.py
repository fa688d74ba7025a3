"""AzureMLPS config.json import and precedence (REFERENCE §7.2), and the whole classic flow."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from amlws.errors import ExitCode

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _config(classic_env: Path) -> dict[str, Any]:
    return tomllib.loads((classic_env / "config" / "config.toml").read_text(encoding="utf-8"))


def test_config_import_the_azuremlps_readme_example(run, cc, classic_env: Path) -> None:
    assert cc.AZUREMLPS_CONFIG.is_file(), "the vendored specs are in tests/data/specs"
    r = run("classic", "config", "import", str(cc.AZUREMLPS_CONFIG), "-o", "json")
    assert r.code == 0, r.err
    assert r.json["profile"] == "default"
    assert r.json["workspace"] == "d2f62586bed343d621441d55b3872d53"
    assert r.json["location"] == "South Central US"
    assert "288a8283e4944bff9c6651a3b6004ef4" not in r.out + r.err  # the token is a secret
    profile = _config(classic_env)["profiles"]["default"]
    assert profile == {"workspace": "d2f62586bed343d621441d55b3872d53", "location": "South Central US",
                       "workspace_token": "288a8283e4944bff9c6651a3b6004ef4"}
    if sys.platform != "win32":
        assert (classic_env / "config" / "config.toml").stat().st_mode & 0o077 == 0


def test_config_import_into_a_named_profile_and_use_it(fake, run, cc, classic_env: Path, tmp_path: Path, monkeypatch) -> None:
    cfg = tmp_path / "config.json"
    # PowerShell writes a BOM; keys in another casing (JavaScriptSerializer is case-insensitive).
    cfg.write_text('\ufeff{"workspaceid": "%s", "AuthorizationToken": "%s", "Location": "south central us"}' % (cc.WS, cc.TOKEN), encoding="utf-8")
    r = run("classic", "config", "import", str(cfg), "--to-profile", "prod")
    assert r.code == 0, r.err
    assert "prod" in r.out
    assert _config(classic_env)["profiles"]["prod"]["location"] == "South Central US"
    monkeypatch.delenv("AMLWS_WORKSPACE_TOKEN")
    r = run("--profile", "prod", "classic", "services", "list", "-o", "json")
    assert r.code == 0, r.err
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {cc.TOKEN}"
    assert fake.requests[-1].path == f"/workspaces/{cc.WS}/webservices"


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"WorkspaceId": "abc", "AuthorizationToken": "t0ken-123", "Location": "South Central US"}', "invalid workspace id 'abc'"),
        ('{"WorkspaceId": "d2f62586bed343d621441d55b3872d53", "AuthorizationToken": "t0ken-123", "Location": "Moon"}', "unknown classic location 'Moon'"),
        ('{"WorkspaceId": "d2f62586bed343d621441d55b3872d53", "Location": "West Europe"}', "missing AuthorizationToken"),
        ("not json", "not valid JSON"),
    ],
)
def test_config_import_rejects_bad_files_and_writes_nothing(run, classic_env: Path, tmp_path: Path, content: str, message: str) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(content, encoding="utf-8")
    r = run("classic", "config", "import", str(cfg))
    assert r.code == ExitCode.USAGE and message in r.err
    assert not (classic_env / "config" / "config.toml").exists()


def test_config_import_missing_file(run, classic_env: Path, tmp_path: Path) -> None:
    r = run("classic", "config", "import", str(tmp_path / "nope.json"))
    assert r.code == ExitCode.NOT_FOUND and "can't find config file" in r.err


def test_config_file_precedence(fake, run, cc, tmp_path: Path, monkeypatch) -> None:
    """Options > --config-file > AMLWS_* environment > profile (AzureMLPS' documented order)."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"WorkspaceId": cc.WS, "AuthorizationToken": cc.TOKEN, "Location": "West Europe"}), encoding="utf-8")
    monkeypatch.setenv("AMLWS_WORKSPACE_TOKEN", "env-token-loses")
    monkeypatch.setenv("AMLWS_WORKSPACE", "ffffffffffffffffffffffffffffffff")
    r = run("classic", "services", "list", "--config-file", str(cfg), "-o", "json")
    assert r.code == 0, r.err
    req = fake.requests[-1]
    assert req.headers["Authorization"] == f"Bearer {cc.TOKEN}" and req.path == f"/workspaces/{cc.WS}/webservices"
    # an explicit option beats the config file
    r = run("classic", "services", "list", "--config-file", str(cfg), "--workspace", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
    assert r.code == ExitCode.NOT_FOUND
    assert fake.requests[-1].path == "/workspaces/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee/webservices"


def test_config_file_location_picks_the_regional_host(run, cc, tmp_path: Path, monkeypatch, classic_env) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"WorkspaceId": cc.WS, "AuthorizationToken": cc.TOKEN, "Location": "Germany Central"}), encoding="utf-8")
    monkeypatch.delenv("AMLWS_CLASSIC_ENDPOINT")
    r = run("classic", "endpoints", "add", "--config-file", str(cfg), "--service", cc.SVC, "--endpoint", "ep09", "--what-if", "-o", "json")
    assert r.code == 0, r.err
    assert r.json["requests"][0]["url"] == f"https://germanycentral.management.azureml.de/workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep09"


def test_the_whole_classic_flow(fake, run, cc, httpserver, tmp_path: Path, monkeypatch) -> None:
    """What the docs walk a newcomer through: config -> list -> add -> export -> patch (BES result) -> update -> refresh -> remove."""
    monkeypatch.delenv("AMLWS_WORKSPACE_TOKEN")
    assert run("classic", "config", "import", str(cc.AZUREMLPS_CONFIG)).code == 0
    # the README example's token is not the fake's: point the profile at the test workspace's token
    assert run("config", "set", "workspace_token", cc.TOKEN).code == 0
    assert run("config", "set", "workspace", cc.WS).code == 0

    r = run("classic", "services", "list", "-o", "json")
    assert r.code == 0, r.err
    scoring = next(s for s in r.json if "predictive" in s["Name"])
    assert run("classic", "endpoints", "add", "--service", scoring["Id"], "--endpoint", "retrain01",
               "--description", "retrained", "--yes").code == 0

    url = cc.ep_url(httpserver.url_for("/"), "retrain01", scoring["Id"])
    exported = tmp_path / "retrain01.json"
    assert run("export", url, "-f", str(exported)).code == 0
    bes = tmp_path / "bes.json"
    bes.write_text(json.dumps({"StatusCode": "Finished", "Results": {"output1": cc.MS_SAMPLE_LOCATION}}), encoding="utf-8")
    assert run("patch-ilearner", str(exported), "--bes-result", str(bes)).code == 0
    r = run("update", url, "--service-updates", str(exported), "--yes", "-o", "json")
    assert r.code == 0, r.err
    assert r.json["verified"] is True

    r = run("classic", "endpoints", "refresh", url, "--yes")
    assert r.code == 0 and 'Endpoint "retrain01" is refreshed.' in r.out
    r = run("classic", "endpoints", "remove", url, "--yes")
    assert r.code == 0 and "successfully removed" in r.out
    assert "retrain01" not in fake.endpoints[scoring["Id"]]
    mutating = [f"{q.method} {q.path.rsplit('/', 2)[-2]}/{q.path.rsplit('/', 1)[-1]}" for q in fake.requests if q.method != "GET"]
    assert mutating == ["PUT endpoints/retrain01", "PATCH endpoints/retrain01", "POST retrain01/refresh", "DELETE endpoints/retrain01"]
