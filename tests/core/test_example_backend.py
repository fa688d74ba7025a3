"""The example third-party backend (examples/amlws-file-backend) proves the plugin contract."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from amlws.model import ModelLocation

pytestmark = pytest.mark.usefixtures("amlws_env")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "examples" / "amlws-file-backend"
SAMPLE = EXAMPLE_DIR / "sample" / "service.json"
GET_WEB_SERVICE = REPO / "tests" / "data" / "specs" / "arm" / "stable-2017-01-01" / "examples" / "getWebService.json"

#: The [trained model] asset of Microsoft's retraining walkthrough (REFERENCE.md 3.3).
TRAINED_MODEL_ASSET = {
    "name": "Retrain Samp.le [trained model]",
    "type": "Resource",
    "locationInfo": {
        "uri": "https://mltestaccount.blob.core.windows.net/azuremlassetscontainer/baca7bca650f46218633552c0bcbba0e.ilearner"
    },
    "outputPorts": {"Results dataset": {"type": "Dataset"}},
}
NEW_MODEL = "https://acct.blob.core.windows.net/models/run7/model.ilearner"
NEW_SAS = "?sv=2020-08-04&sr=b&sp=r&se=2099-01-01T00%3A00%3A00Z&sig=SIGNATURE0123456789"


def spec_body() -> dict:
    return json.loads(GET_WEB_SERVICE.read_text(encoding="utf-8"))["responses"]["200"]["body"]


def spec_service_with_model() -> dict:
    body = spec_body()
    body["properties"]["assets"]["asset3"] = copy.deepcopy(TRAINED_MODEL_ASSET)
    return body


@pytest.fixture
def pm(make_pm, file_backend):
    return make_pm((file_backend, "file"))


@pytest.fixture
def service(tmp_path) -> Path:
    path = tmp_path / "svc" / "service.json"
    path.parent.mkdir()
    path.write_text(json.dumps(spec_service_with_model(), indent=2), encoding="utf-8")
    return path


def run_ok(run_cli, argv, pm):
    code, out, err = run_cli(argv, pm)
    assert code == 0, err
    return out, err


# --- installed like any third-party plugin -----------------------------------------------------------


def _setuptools_builds_wheels() -> bool:
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("setuptools") is None:
        return False
    try:
        major, minor = (int(x) for x in importlib.metadata.version("setuptools").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def make_dist_info(site: Path) -> None:
    info = site / "amlws_file_backend-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: amlws-file-backend\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[amlws]\nfile = amlws_file_backend\n")


def amlws_subprocess(args: list[str], pythonpath: list[Path], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLWS_")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    env["AMLWS_CONFIG_DIR"] = str(tmp_path / "cfg")
    env["AMLWS_LOAD_PLUGINS"] = "file"
    return subprocess.run(
        [sys.executable, "-c", "from amlws.cli.application import main; main()", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_pip_installed_backend_is_listed_and_dispatched_to(tmp_path):
    import shutil

    source = tmp_path / "src"  # a copy: the build must not leave build/ or *.egg-info in the repository
    shutil.copytree(EXAMPLE_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    # Offline when this environment's setuptools can build wheels itself (>= 70.1, as the
    # Makefile installs); else pip fetches a build backend for an isolated build.
    offline = ["--no-build-isolation", "--no-index"] if _setuptools_builds_wheels() else []
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *offline,
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "amlws_file_backend" / "__init__.py").is_file()

    proc = amlws_subprocess(["plugins", "-o", "json"], [target], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        {
            "name": "file",
            "version": "0.1.0",
            "distribution": "amlws-file-backend",
            "backend": "file",
            "hooks": [
                "amlws_backend_info",
                "amlws_claim_target",
                "amlws_export",
                "amlws_get_definition",
                "amlws_import",
                "amlws_patch_ilearner",
                "amlws_plan_update",
                "amlws_update",
            ],
        }
    ]

    service = tmp_path / "service.json"
    service.write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    proc = amlws_subprocess(["get", f"file:{service}", "-o", "json"], [target], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(SAMPLE.read_text(encoding="utf-8"))


def test_dist_info_on_the_path_is_enough(tmp_path):
    site = tmp_path / "site"
    make_dist_info(site)
    proc = amlws_subprocess(["plugins", "-o", "json", "--query", "[].[name, distribution, backend]"], [site, EXAMPLE_DIR], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [["file", "amlws-file-backend", "file"]]


# --- the five steps through the CLI ----------------------------------------------------------------------


def test_get_export_patch_import_update_on_the_spec_example(pm, run_cli, service, tmp_path):
    target = f"file:{service}"
    original = json.loads(service.read_text())

    out, _ = run_ok(run_cli, ["get", target, "-o", "json"], pm)
    assert json.loads(out) == original

    export = tmp_path / "export.json"
    out, _ = run_ok(run_cli, ["export", target, "--output-file", str(export), "-o", "json"], pm)
    assert json.loads(out) == {"target": f"file:{service}", "backend": "file", "outputFile": str(export)}
    exported = json.loads(export.read_text())
    # as Export-AzMlWebService writes it: no read-only fields
    assert "id" not in exported
    for key in ("createdOn", "modifiedOn", "provisioningState", "swaggerLocation"):
        assert key not in exported["properties"]
    assert exported["properties"]["package"] == original["properties"]["package"]

    out, _ = run_ok(
        run_cli, ["patch-ilearner", str(export), "--backend", "file", "--uri", NEW_MODEL + NEW_SAS, "-o", "json"], pm
    )
    assert json.loads(out) == {
        "file": str(export),
        "backend": "file",
        "modelUri": NEW_MODEL + NEW_SAS.replace("SIGNATURE0123456789", "***"),
    }
    patched = json.loads(export.read_text())
    assert patched["properties"]["assets"]["asset3"]["locationInfo"]["uri"] == NEW_MODEL
    assert "SIGNATURE0123456789" not in export.read_text()
    unchanged = copy.deepcopy(patched)
    unchanged["properties"]["assets"]["asset3"]["locationInfo"]["uri"] = TRAINED_MODEL_ASSET["locationInfo"]["uri"]
    assert unchanged == exported  # only the trained-model uri changed

    out, _ = run_ok(run_cli, ["import", "--input-file", str(export), "--backend", "file"], pm)
    assert json.loads(out) == patched

    out, _ = run_ok(run_cli, ["update", target, "--service-updates", str(export), "--yes", "-o", "json"], pm)
    assert json.loads(out) == {
        "target": f"file:{service}",
        "backend": "file",
        "verified": True,
        "verification": "the file holds the definition and the trained-model location that were sent",
        "modelUri": NEW_MODEL,
        "requests": 0,
        "details": {"file": str(service)},
    }
    live = json.loads(service.read_text())
    assert live["properties"]["assets"]["asset3"]["locationInfo"]["uri"] == NEW_MODEL
    # read-only fields are the service's own, kept across the update
    assert live["id"] == original["id"] == "TheWebServiceId"
    assert live["properties"]["createdOn"] == original["properties"]["createdOn"]
    assert live["properties"]["provisioningState"] == "Succeeded"
    assert live["properties"]["modifiedOn"] != original["properties"]["modifiedOn"]


def test_the_committed_sample_is_the_spec_example_plus_the_trained_model(pm):
    assert json.loads(SAMPLE.read_text(encoding="utf-8")) == spec_service_with_model()


def test_patch_without_a_trained_model_asset_is_a_clear_error(pm, run_cli, tmp_path):
    f = tmp_path / "plain.json"
    f.write_text(json.dumps(spec_body()))
    before = f.read_bytes()
    code, out, err = run_cli(["patch-ilearner", str(f), "--backend", "file", "--uri", NEW_MODEL], pm)
    assert code == 2 and out == ""
    assert err == (
        "error: the definition has no [trained model] asset "
        "(fix: is this the predictive service? pass --asset ID to patch another asset)\n"
    )
    assert f.read_bytes() == before


def test_patch_refuses_an_expired_sas_and_writes_nothing(pm, run_cli, service):
    before = service.read_bytes()
    code, _, err = run_cli(
        ["patch-ilearner", str(service), "--backend", "file", "--uri", NEW_MODEL + "?sp=r&se=2020-01-01&sig=x"], pm
    )
    assert code == 2 and err.startswith("error: the SAS token expired at 2020-01-01")
    assert service.read_bytes() == before


def test_patch_selects_an_asset_by_id_or_name(pm, file_backend):
    from amlws.config import Settings
    from amlws.host import Host

    host = Host(pm, Settings())
    doc = spec_service_with_model()
    doc["properties"]["assets"]["asset4"] = dict(copy.deepcopy(TRAINED_MODEL_ASSET), name="Second [trained model]")
    definition = host.import_definition(doc, backend="file")
    loc = ModelLocation.from_uri(NEW_MODEL)
    from amlws.errors import UsageError

    with pytest.raises(UsageError, match="several \\[trained model\\] assets: asset3, asset4"):
        host.patch_ilearner(definition, loc)
    patched = host.patch_ilearner(definition, loc, selector="Second [trained model]")
    assert patched.document["properties"]["assets"]["asset4"]["locationInfo"]["uri"] == NEW_MODEL
    assert definition.document["properties"]["assets"]["asset4"]["locationInfo"]["uri"] != NEW_MODEL  # input untouched
    assert host.patch_ilearner(definition, loc, selector="asset3").document["properties"]["assets"]["asset3"]["locationInfo"]["uri"] == NEW_MODEL
    with pytest.raises(UsageError, match="no asset 'asset9'"):
        host.patch_ilearner(definition, loc, selector="asset9")


def test_what_if_update_shows_the_change_and_writes_nothing(pm, run_cli, service, tmp_path):
    export = tmp_path / "e.json"
    run_ok(run_cli, ["export", f"file:{service}", "-f", str(export)], pm)
    run_ok(run_cli, ["patch-ilearner", str(export), "--backend", "file", "--uri", NEW_MODEL], pm)
    before = service.read_bytes()
    out, _ = run_ok(run_cli, ["--what-if", "update", f"file:{service}", "--service-updates", str(export), "-o", "json"], pm)
    plan = json.loads(out)
    assert plan["whatIf"] is True and plan["target"] == f"file:{service}"
    assert [(r["method"], r["url"]) for r in plan["requests"]] == [("WRITE", f"file:{service}")]
    assert f'+          "uri": "{NEW_MODEL}"' in plan["diff"]
    assert service.read_bytes() == before


def test_failed_update_write_leaves_the_old_file(pm, run_cli, service, tmp_path, monkeypatch):
    export = tmp_path / "e.json"
    run_ok(run_cli, ["export", f"file:{service}", "-f", str(export)], pm)
    run_ok(run_cli, ["patch-ilearner", str(export), "--backend", "file", "--uri", NEW_MODEL], pm)
    before = service.read_bytes()

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    code, _, err = run_cli(["update", f"file:{service}", "--service-updates", str(export), "--yes"], pm)
    assert code == 1 and "No space left on device" in err
    assert service.read_bytes() == before
    assert os.listdir(service.parent) == ["service.json"]


def test_missing_file_is_not_found(pm, run_cli, tmp_path):
    code, out, err = run_cli(["get", f"file:{tmp_path}/nope.json"], pm)
    assert code == 3 and out == ""
    assert err == f"error: definition file not found: {tmp_path}/nope.json (fix: check the path after file:)\n"


def test_malformed_definition_file(pm, run_cli, tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{"properties": [1, 2]}')
    code, _, err = run_cli(["get", f"file:{f}"], pm)
    assert code == 2 and err == f"error: {f}: 'properties' must be an object (fix: export one with amlws export)\n"


def test_claims_only_file_targets(file_backend, tmp_path):
    assert file_backend.amlws_claim_target("/subscriptions/x/resourceGroups/y") is None
    t = file_backend.amlws_claim_target(f"file://{tmp_path}/a.json")
    assert (t.backend, t.id, t.parts) == ("file", f"file:{tmp_path}/a.json", {"path": f"{tmp_path}/a.json"})
    assert file_backend.amlws_claim_target("file:rel/a.json").id == f"file:{Path.cwd() / 'rel' / 'a.json'}"


def test_example_backend_imports_nothing_heavy():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import amlws_file_backend; "
        "print(sorted(m for m in sys.modules if m.startswith(('azure', 'requests'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(EXAMPLE_DIR)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_an_observer_veto_through_the_cli_is_exit_5_and_the_file_is_untouched(make_pm, file_backend, run_cli, service, tmp_path):
    from amlws import hookimpl

    seen = []

    class Freeze:
        @hookimpl
        def amlws_before_update(self, target, definition):
            seen.append(target.id)
            return "change freeze until Monday"

        @hookimpl
        def amlws_after_update(self, target):
            seen.append("after")

    pm = make_pm((file_backend, "file"), (Freeze(), "freeze"))
    export = tmp_path / "e.json"
    run_ok(run_cli, ["export", f"file:{service}", "-f", str(export)], pm)
    run_ok(run_cli, ["patch-ilearner", str(export), "--backend", "file", "--uri", NEW_MODEL], pm)
    before = service.read_bytes()
    code, out, err = run_cli(["update", f"file:{service}", "--service-updates", str(export), "--yes"], pm)
    assert code == 5 and out == ""
    assert err.startswith(f"error: plugin 'freeze' vetoed the update of file:{service}: change freeze until Monday (fix: ")
    assert service.read_bytes() == before
    assert seen == [f"file:{service}"]
