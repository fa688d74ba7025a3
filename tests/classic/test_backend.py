"""The five backend verbs on a classic endpoint, over a real local server (REFERENCE §3.5, §3.7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amlws.errors import ExitCode, UsageError
from amlws.model import Definition, ModelLocation
from amlws.safety.change import update


def _url(httpserver: Any, cc: Any, name: str = "ep01", svc: str | None = None) -> str:
    return cc.ep_url(httpserver.url_for("/"), name, svc or cc.SVC)


def _assert_management_request(req: Any, cc: Any, method: str, path: str) -> None:
    assert req.method == method
    assert req.path == path
    assert req.query_string == b""  # no api-version on management calls
    assert req.headers["Authorization"] == f"Bearer {cc.TOKEN}"
    assert req.headers["User-Agent"].startswith("amlws/")


# --- get / export -----------------------------------------------------------------------------


def test_get_returns_the_endpoint_with_resources_and_unknown_fields(fake, run, cc, httpserver) -> None:
    r = run("get", _url(httpserver, cc), "-o", "json")
    assert r.code == 0, r.err
    from amlws.redact import redact_sas

    # the SAS signature is masked on display, like the keys (export --include-keys has it)
    shown = {**cc.OLD_LOCATION, "SasBlobToken": redact_sas(cc.OLD_LOCATION["SasBlobToken"])}
    assert "sig=***" in shown["SasBlobToken"]
    assert r.json["Resources"] == [{"Name": cc.MODEL, "Kind": "TrainedModel", "Location": shown}]
    assert r.json["SomeFieldFromTheFuture"] == {"kept": True}
    assert r.json["ApiLocation"].endswith("/services/ep01id")
    assert "PrimaryKey" not in r.json and "secret" not in r.out  # keys are never shown by get
    (req,) = fake.requests
    _assert_management_request(req, cc, "GET", f"/workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep01")
    assert req.get_data() == b""


def test_get_table_shows_the_trained_model_not_the_keys(fake, run, cc, httpserver, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    r = run("get", _url(httpserver, cc))
    assert r.code == 0, r.err
    assert cc.MODEL in r.out and "original.ilearner" in r.out
    assert "secret" not in r.out and "OLDSIG" not in r.out


def test_get_by_options(fake, run, cc) -> None:
    r = run("get", "--workspace", cc.WS, "--service", cc.SVC, "--endpoint", "ep01", "-o", "json")
    assert r.code == 0, r.err
    assert r.json["Name"] == "ep01"


def test_get_needs_an_endpoint(fake, run, cc, httpserver) -> None:
    r = run("get", f"{httpserver.url_for('/')}workspaces/{cc.WS}/webservices/{cc.SVC}")
    assert r.code == ExitCode.USAGE
    assert "not one of its endpoints" in r.err and "--endpoint" in r.err
    assert fake.requests == []


def test_export_removes_keys_unless_asked(fake, run, cc, httpserver, tmp_path: Path) -> None:
    r = run("export", _url(httpserver, cc))
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert "PrimaryKey" not in doc and "SecondaryKey" not in doc
    assert "secret" not in r.out
    for key in ("WorkspaceId", "WebServiceId", "Name", "Resources", "SomeFieldFromTheFuture"):
        assert key in doc
    out = tmp_path / "ep.json"
    r = run("export", _url(httpserver, cc), "--include-keys", "-f", str(out))
    assert r.code == 0, r.err
    assert json.loads(out.read_text())["PrimaryKey"] == "primary-key-ep01-secret=="


# --- import ---------------------------------------------------------------------------------


def test_import_recognises_and_normalises_a_classic_document(host, cc) -> None:
    doc = {"name": "ep01", "webserviceid": cc.SVC, "resources": [
        {"name": cc.MODEL, "location": {"baselocation": "https://a.blob.core.windows.net/", "relativelocation": "c/m.ilearner",
                                        "sasblobtoken": "?sp=r", "ConnectionString": None}}], "Unknown": 1}
    d = host.import_definition(doc, source="x.json")
    assert d.backend == "classic"
    assert d.document == {"Name": "ep01", "WebServiceId": cc.SVC, "Unknown": 1, "Resources": [
        {"Name": cc.MODEL, "Location": {"BaseLocation": "https://a.blob.core.windows.net/", "RelativeLocation": "c/m.ilearner",
                                        "SasBlobToken": "?sp=r", "ConnectionString": None}}]}


def test_import_leaves_other_formats_alone() -> None:
    from amlws.plugins.classic.backend import import_document

    assert import_document({"properties": {"packageType": "Graph"}, "location": "x"}, "arm.json") is None
    assert import_document([1, 2], "list.json") is None
    assert import_document({"foo": 1}, "foo.json") is None


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"Resources": {"Name": "x"}}, "Resources must be a list"),
        ({"Resources": ["x"]}, "Resources[0] must be an object"),
        ({"Resources": [{"Name": 3}]}, "Resources[0].Name must be a string"),
        ({"Resources": [{"Name": "m", "Location": "https://x"}]}, "Resources[0].Location must be an object"),
        ({"Resources": [{"Name": "m", "Location": {"BaseLocation": 1}}]}, "Location.BaseLocation must be a string"),
        ({"Resources": [], "WebServiceId": "nope"}, "invalid web service id 'nope'"),
        ({"Resources": [], "WorkspaceId": "nope"}, "invalid workspace id 'nope'"),
    ],
)
def test_import_rejects_invalid_classic_documents(host, doc: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as info:
        host.import_definition(doc, source="bad.json")
    assert message in info.value.message and info.value.message.startswith("bad.json: ")


# --- patch-ilearner -------------------------------------------------------------------------------


def _definition(cc: Any, resources: list[dict[str, Any]] | None = None, name: str = "ep01") -> Definition:
    doc = cc.endpoint_doc(name, resources=resources)
    return Definition("classic", doc)


def test_patch_ilearner_from_uri_splits_base_relative_sas(host, cc) -> None:
    loc = ModelLocation.from_uri("https://acct.blob.core.windows.net/models/run7/model.ilearner?sv=2019&sp=r&se=2099-01-01T00%3A00%3A00Z&sig=abc")
    patched = host.patch_ilearner(_definition(cc), loc)
    (res,) = patched.document["Resources"]
    assert res["Location"] == {"BaseLocation": "https://acct.blob.core.windows.net/", "RelativeLocation": "models/run7/model.ilearner",
                               "SasBlobToken": "?sv=2019&sp=r&se=2099-01-01T00%3A00%3A00Z&sig=abc"}
    assert res["Kind"] == "TrainedModel"
    # the input is not modified
    assert _definition(cc).document["Resources"][0]["Location"] == cc.OLD_LOCATION


def test_patch_ilearner_cli_from_bes_result(fake, run, cc, httpserver, tmp_path: Path) -> None:
    exported = tmp_path / "ep.json"
    assert run("export", _url(httpserver, cc), "-f", str(exported)).code == 0
    bes = {"StatusCode": "Finished", "Results": {"output1": {"ConnectionString": None, **cc.MS_SAMPLE_LOCATION},
                                                 "output2": {"BaseLocation": "https://x.blob.core.windows.net/", "RelativeLocation": "c/eval.csv", "SasBlobToken": "?sp=r"}}}
    r = run("patch-ilearner", str(exported), "--bes-result", json.dumps(bes), "-o", "json")
    assert r.code == 0, r.err
    assert "37lTTfngRwxCcf94" not in r.out  # the SAS signature is redacted in output
    doc = json.loads(exported.read_text())
    assert doc["Resources"][0]["Location"] == cc.MS_SAMPLE_LOCATION


TWO = [
    {"Name": "Model A [trained model]", "Location": None},
    {"Name": "Model B [trained model]", "Location": None},
]
GOOD = ModelLocation("https://a.blob.core.windows.net/", "c/new.ilearner", "?sp=r&se=2099-01-01")


def test_patch_ilearner_several_resources_needs_a_selector(host, cc) -> None:
    with pytest.raises(UsageError) as info:
        host.patch_ilearner(_definition(cc, TWO), GOOD)
    assert "'Model A [trained model]', 'Model B [trained model]'" in info.value.message
    assert info.value.hint == "pass --resource NAME"
    patched = host.patch_ilearner(_definition(cc, TWO), GOOD, selector="model b [TRAINED MODEL]")
    assert patched.document["Resources"][1]["Location"]["RelativeLocation"] == "c/new.ilearner"
    assert patched.document["Resources"][0]["Location"] is None


def test_patch_ilearner_unknown_resource_lists_names(host, cc) -> None:
    with pytest.raises(UsageError) as info:
        host.patch_ilearner(_definition(cc, TWO), GOOD, selector="Model C")
    assert "no resource named 'Model C'" in info.value.message
    assert "'Model A [trained model]', 'Model B [trained model]'" in info.value.message


@pytest.mark.parametrize("resources", [[], [{"Name": "{}", "Location": None}], [{"Name": "", "Location": None}]])
def test_patch_ilearner_nothing_patchable(host, cc, resources) -> None:
    with pytest.raises(UsageError) as info:
        host.patch_ilearner(_definition(cc, resources), GOOD)
    assert "no updatable resources" in info.value.message
    assert "predictive web service" in info.value.hint


def test_patch_ilearner_empty_selector(host, cc) -> None:
    with pytest.raises(UsageError, match="nothing is patchable"):
        host.patch_ilearner(_definition(cc), GOOD, selector="{}")


@pytest.mark.parametrize(
    "sas, message",
    [
        ("?sv=2015&sp=r&se=2015-01-31T22%3A58%3A06Z&sig=x", "expired"),
        ("?sv=2015&sp=w&se=2099-01-31T22%3A58%3A06Z&sig=x", "does not grant read"),
    ],
)
def test_patch_ilearner_refuses_bad_sas(host, cc, sas: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        host.patch_ilearner(_definition(cc), ModelLocation("https://a.blob.core.windows.net/", "c/m.ilearner", sas))


# --- update -----------------------------------------------------------------------------------


def _patched_file(cc: Any, tmp_path: Path, location: dict[str, str] | None = None, name: str = "ep01",
                  resources: list[dict[str, Any]] | None = None) -> Path:
    doc = cc.endpoint_doc(name, resources=resources or [{"Name": cc.MODEL, "Kind": "TrainedModel", "Location": location or cc.MS_SAMPLE_LOCATION}])
    del doc["PrimaryKey"], doc["SecondaryKey"]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_update_sends_the_microsoft_sample_patch_and_verifies(fake, run, cc, httpserver, tmp_path: Path) -> None:
    r = run("update", _url(httpserver, cc), "--service-updates", str(_patched_file(cc, tmp_path)), "--yes", "-o", "json")
    assert r.code == 0, r.err
    path = f"/workspaces/{cc.WS}/webservices/{cc.SVC}/endpoints/ep01"
    assert fake.methods() == [f"GET {path}", f"PATCH {path}", f"GET {path}"]
    for req in fake.requests:
        _assert_management_request(req, cc, req.method, path)
    patch = fake.requests[1]
    assert patch.headers["Content-Type"] == "application/json; charset=utf-8"
    expected = {"Resources": [{"Name": "Census Model [trained model]", "Location": {
        "BaseLocation": "https://esintussouthsus.blob.core.windows.net/",
        "RelativeLocation": "experimentoutput/8946abfd-79d6-4438-89a9-3e5d109183/8946abfd-79d6-4438-89a9-3e5d109183.ilearner",
        "SasBlobToken": "?sv=2013-08-15&sr=c&sig=37lTTfngRwxCcf94%3D&st=2015-01-30T22%3A53%3A06Z&se=2099-01-31T22%3A58%3A06Z&sp=rl"}}]}
    assert json.loads(patch.get_data()) == expected
    assert patch.get_data() == json.dumps(expected, separators=(",", ":")).encode()
    assert r.json["verified"] is True
    assert r.json["requests"] == 3
    assert r.json["modelUri"] == "https://esintussouthsus.blob.core.windows.net/experimentoutput/8946abfd-79d6-4438-89a9-3e5d109183/8946abfd-79d6-4438-89a9-3e5d109183.ilearner"
    assert r.json["details"] == {"changed": ["Census Model [trained model]"]}
    assert fake.endpoints[cc.SVC]["ep01"]["Resources"][0]["Location"] == cc.MS_SAMPLE_LOCATION


def test_update_sends_only_the_changed_resources(fake, run, cc, httpserver, tmp_path: Path) -> None:
    old_b = {"BaseLocation": "https://b.blob.core.windows.net/", "RelativeLocation": "c/b.ilearner", "SasBlobToken": "?sp=r"}
    live = [{"Name": "A [trained model]", "Location": dict(cc.OLD_LOCATION)}, {"Name": "B [trained model]", "Location": old_b}]
    fake.put_endpoint(cc.SVC, "ep02", live)
    new_b = {"BaseLocation": "https://b.blob.core.windows.net/", "RelativeLocation": "c/b2.ilearner", "SasBlobToken": "?sp=r&se=2099-01-01"}
    f = _patched_file(cc, tmp_path, name="ep02", resources=[live[0], {"Name": "B [trained model]", "Location": new_b}])
    r = run("update", _url(httpserver, cc, "ep02"), "--service-updates", str(f), "--yes", "-o", "json")
    assert r.code == 0, r.err
    assert json.loads(fake.requests[1].get_data()) == {"Resources": [{"Name": "B [trained model]", "Location": new_b}]}


def test_update_with_nothing_changed_sends_no_patch(fake, run, cc, httpserver, tmp_path: Path) -> None:
    f = _patched_file(cc, tmp_path, location=cc.OLD_LOCATION)
    r = run("update", _url(httpserver, cc), "--service-updates", str(f), "--yes", "-o", "json")
    assert r.code == 0, r.err
    assert [q.method for q in fake.requests] == ["GET"]
    assert r.json["details"]["message"] == "no change"
    # nothing changed: no history revision (a plain rollback still undoes the last real change)
    r = run("history", _url(httpserver, cc), "-o", "json")
    assert r.code == ExitCode.NOT_FOUND and "no history for" in r.err


def test_update_reports_unverified_when_the_service_keeps_the_old_model(fake, run, cc, httpserver, tmp_path: Path) -> None:
    fake.ignore_patch = True
    r = run("update", _url(httpserver, cc), "--service-updates", str(_patched_file(cc, tmp_path)), "--yes", "-o", "json")
    assert r.code == 0, r.err
    assert r.json["verified"] is False


def _no_mutation(fake: Any) -> None:
    assert [q.method for q in fake.requests if q.method not in ("GET",)] == []


def test_update_refuses_the_default_endpoint(fake, run, cc, httpserver, tmp_path: Path) -> None:
    r = run("update", _url(httpserver, cc, "default"), "--service-updates", str(_patched_file(cc, tmp_path, name="default")), "--yes")
    assert r.code == ExitCode.USAGE
    assert "cannot patch the default endpoint" in r.err and "amlws classic endpoints add" in r.err
    assert fake.requests == []


def test_update_refuses_a_training_web_service(fake, run, cc, httpserver, tmp_path: Path) -> None:
    fake.put_endpoint(cc.TRAIN_SVC, "ep01", [{"Name": "{}", "Location": None}])
    f = _patched_file(cc, tmp_path)
    doc = json.loads(f.read_text())
    doc["WebServiceId"] = cc.TRAIN_SVC
    f.write_text(json.dumps(doc))
    r = run("update", _url(httpserver, cc, "ep01", cc.TRAIN_SVC), "--service-updates", str(f), "--yes")
    assert r.code == ExitCode.USAGE
    assert "no updatable resources" in r.err and "predictive web service" in r.err
    _no_mutation(fake)


def test_update_refuses_an_unknown_resource(fake, run, cc, httpserver, tmp_path: Path) -> None:
    f = _patched_file(cc, tmp_path, resources=[{"Name": "Income Predictor [Trained Model]", "Location": cc.MS_SAMPLE_LOCATION}])
    r = run("update", _url(httpserver, cc), "--service-updates", str(f), "--yes")
    assert r.code == ExitCode.USAGE
    assert "no resource named 'Income Predictor [Trained Model]'" in r.err and f"'{cc.MODEL}'" in r.err
    _no_mutation(fake)


@pytest.mark.parametrize(
    "sas, message",
    [
        ("?sv=2013-08-15&sr=c&sig=x%3D&se=2015-01-31T22%3A58%3A06Z&sp=rl", "expired"),
        ("?sv=2013-08-15&sr=c&sig=x%3D&se=2099-01-31T22%3A58%3A06Z&sp=w", "does not grant read"),
    ],
)
def test_update_refuses_bad_sas(fake, run, cc, httpserver, tmp_path: Path, sas: str, message: str) -> None:
    f = _patched_file(cc, tmp_path, location={**cc.MS_SAMPLE_LOCATION, "SasBlobToken": sas})
    r = run("update", _url(httpserver, cc), "--service-updates", str(f), "--yes")
    assert r.code == ExitCode.USAGE and message in r.err
    assert "amlws jobs status" in r.err or "sp=r" in r.err
    _no_mutation(fake)


def test_update_refuses_a_definition_of_another_service(fake, run, cc, httpserver, tmp_path: Path) -> None:
    f = _patched_file(cc, tmp_path)
    doc = json.loads(f.read_text())
    doc["WebServiceId"] = cc.TRAIN_SVC
    f.write_text(json.dumps(doc))
    r = run("update", _url(httpserver, cc), "--service-updates", str(f), "--yes")
    assert r.code == ExitCode.CONFLICT and "is of web service" in r.err and "--force" in r.err
    assert fake.requests == []


def test_update_refuses_non_hex_ids(fake, run, cc, httpserver, tmp_path: Path) -> None:
    url = f"{httpserver.url_for('/')}workspaces/xxx/webservices/{cc.SVC}/endpoints/ep01"
    r = run("update", url, "--service-updates", str(_patched_file(cc, tmp_path)), "--yes")
    assert r.code == ExitCode.USAGE and "invalid workspace id 'xxx'" in r.err
    assert fake.requests == []


def test_update_what_if_sends_no_patch(fake, run, cc, httpserver, tmp_path: Path) -> None:
    r = run("update", _url(httpserver, cc), "--service-updates", str(_patched_file(cc, tmp_path)), "--what-if", "-o", "json")
    assert r.code == 0, r.err
    assert [q.method for q in fake.requests] == ["GET"]  # one read, reused for the plan
    methods = [q["method"] for q in r.json["requests"]]
    assert methods == ["GET", "PATCH", "GET"]
    body = r.json["requests"][1]["body"]
    assert body["Resources"][0]["Name"] == cc.MODEL
    assert "37lTTfngRwxCcf94" not in r.out


def test_update_needs_confirmation_without_yes(fake, run, cc, httpserver, tmp_path: Path) -> None:
    r = run("update", _url(httpserver, cc), "--service-updates", str(_patched_file(cc, tmp_path)))
    assert r.code == ExitCode.USAGE and "--yes" in r.err
    _no_mutation(fake)


def test_library_update_through_the_change_path(fake, host, cc, httpserver) -> None:
    t = host.resolve(_url(httpserver, cc))
    d = host.get_definition(t)
    patched = host.patch_ilearner(d, ModelLocation(**{
        "base_location": cc.MS_SAMPLE_LOCATION["BaseLocation"], "relative_location": cc.MS_SAMPLE_LOCATION["RelativeLocation"],
        "sas_blob_token": cc.MS_SAMPLE_LOCATION["SasBlobToken"]}))
    result = update(host, t, patched)
    assert result.verified and result.requests == 3
    assert result.definition.document["Resources"][0]["Location"] == cc.MS_SAMPLE_LOCATION


def test_import_cli_and_patch_with_resource_option(fake, run, cc, httpserver, tmp_path: Path) -> None:
    f = _patched_file(cc, tmp_path, resources=[{"Name": "Model A [trained model]", "Location": None},
                                               {"Name": "Model B [trained model]", "Location": None}])
    r = run("import", "-i", str(f))
    assert r.code == 0, r.err
    assert json.loads(r.out)["Resources"][1]["Name"] == "Model B [trained model]"
    r = run("patch-ilearner", str(f), "--uri", "https://a.blob.core.windows.net/c/new.ilearner?sp=r&sig=x")
    assert r.code == ExitCode.USAGE and "several updatable resources" in r.err and "--resource NAME" in r.err
    r = run("patch-ilearner", str(f), "--resource", "Model B [trained model]", "--uri", "https://a.blob.core.windows.net/c/new.ilearner?sp=r&sig=x")
    assert r.code == 0, r.err
    doc = json.loads(f.read_text())
    assert doc["Resources"][1]["Location"] == {"BaseLocation": "https://a.blob.core.windows.net/", "RelativeLocation": "c/new.ilearner", "SasBlobToken": "?sp=r&sig=x"}
    assert fake.requests == []  # patch-ilearner is local


@pytest.mark.parametrize("resource", [None, "Model B [trained model]"])
def test_patch_model_writes_what_patch_ilearner_writes(fake, run, cc, tmp_path: Path, resource: str | None) -> None:
    """classic has no amlws_patch_model: patch-model reads the reference as a .ilearner location and
    goes through amlws_patch_ilearner, so its file and output are patch-ilearner --uri's."""
    uri = "https://a.blob.core.windows.net/c/new.ilearner?sv=2019&sp=r&se=2099-01-01&sig=SIGNATURE77"
    resources = [{"Name": "Model A [trained model]", "Location": None}, {"Name": resource, "Location": None}] if resource else None
    results = {}
    for command, option in (("patch-ilearner", "--uri"), ("patch-model", "--model")):
        (tmp_path / command).mkdir()
        f = _patched_file(cc, tmp_path / command, resources=resources)
        r = run(command, str(f), option, uri, "-o", "json", *(["--resource", resource] if resource else []))
        assert r.code == 0, r.err
        results[command] = (json.loads(r.out.replace(str(tmp_path / command), "DIR")), f.read_bytes())
    assert results["patch-model"] == results["patch-ilearner"]
    out, written = results["patch-model"]
    res = json.loads(written)["Resources"][1 if resource else 0]
    assert res["Location"] == {"BaseLocation": "https://a.blob.core.windows.net/", "RelativeLocation": "c/new.ilearner",
                               "SasBlobToken": "?sv=2019&sp=r&se=2099-01-01&sig=SIGNATURE77"}
    assert out["backend"] == "classic" and "SIGNATURE77" not in json.dumps(out)
    assert fake.requests == []


def test_patch_model_refuses_an_azure_ml_model_version(fake, run, cc, tmp_path: Path) -> None:
    f = _patched_file(cc, tmp_path)
    before = f.read_bytes()
    r = run("patch-model", str(f), "--model", "azureml:census:3")
    assert r.code == ExitCode.USAGE and r.out == ""
    assert r.err.startswith("error: a Studio definition takes a .ilearner location; 'azureml:census:3' is an Azure ML model version (fix: ")
    assert len(r.err.splitlines()) == 1
    assert f.read_bytes() == before and fake.requests == []


def test_token_is_prompted_on_a_terminal(monkeypatch, classic_env) -> None:
    import getpass

    from amlws.config import Settings
    from amlws.plugins.classic.azuremlps import token

    monkeypatch.delenv("AMLWS_WORKSPACE_TOKEN")
    monkeypatch.setattr(getpass, "getpass", lambda prompt: "typed-token-123")
    assert token(Settings.load(interactive=True)) == "typed-token-123"
    with pytest.raises(Exception) as info:
        token(Settings.load(interactive=False))
    assert info.value.exit_code == ExitCode.AUTH


def test_plan_update_depends_on_its_arguments_not_on_an_earlier_read(fake, host, cc, httpserver, tmp_path: Path) -> None:
    """Issue 14: the plan came from a read stashed on the settings object, so the same call planned
    differently once ``get_definition`` had run. Now the live definition is an argument."""
    t = host.resolve(_url(httpserver, cc))
    definition = host.import_definition(json.loads(_patched_file(cc, tmp_path).read_text()), backend="classic")
    before = host.plan_update(t, definition)
    live = host.get_definition(t)
    after = host.plan_update(t, definition)
    assert after == before  # the read in between changes nothing
    assert [r["method"] for r in before] == ["GET", "PATCH", "GET"] and "purpose" in before[1]
    with_live = host.plan_update(t, definition, live=live)
    assert "purpose" not in json.dumps(with_live)  # planned against the live endpoint: only what differs
    assert with_live == host.plan_update(t, definition, live=live)
