"""Import/export/patch-ilearner of ARM definitions: pure functions and the CLI, nothing sent."""

from __future__ import annotations

import copy
import json
import logging
import re
from pathlib import Path

import pytest

from amlws.errors import NotFoundError, UsageError
from amlws.model import ModelLocation
from amlws.plugins.arm import definition as defs


def test_import_normalises_only_schema_property_names(prod_definition, h):
    doc, warnings = defs.normalize(copy.deepcopy(prod_definition), "prod.json")
    assert warnings == []
    props = doc["properties"]
    # PascalCase property names become the spec's camelCase...
    for name in ("payloadsInBlobStorage", "machineLearningWorkspace", "assets", "parameters", "input", "output", "package", "exampleRequest"):
        assert name in props, name
    assert not {"Assets", "Package", "Input", "MachineLearningWorkspace"} & set(props)
    assert props["machineLearningWorkspace"] == {"id": "8b841df9d60a4d54bcebd4948b10a5db"}
    assert props["assets"]["asset1"]["locationInfo"] == {
        "uri": "aml://module/506153734175476c4f62416c57734963.4e1b0fe6aded4b3fa36f39b8862b9004.v1-default-1743",
        "credentials": "",
    }
    node1 = props["package"]["nodes"]["node1"]
    assert node1["assetId"] == "asset1"
    # ...while map keys (node ids, parameter names, column names) are data and keep their case.
    assert node1["parameters"]["Account Key"] == {"value": "ENCRYPTED_VALUE_1", "certificateThumbprint": "ENCRYPTED_CERTIFICATETHUMBPRINT_1"}
    assert "State-gov" in props["input"]["properties"]["input1"]["properties"]
    assert props["package"]["edges"][2] == {"sourceNodeId": "node3", "targetNodeId": "node2", "targetPortId": "Dataset2"}
    assert "input1" in props["exampleRequest"]["inputs"]
    # The result is a valid request body; the raw PascalCase file is not (the checker is strict).
    h.validate_request_body(doc)
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        h.validate_request_body(prod_definition)


def test_import_cli_prints_camelcase_and_sends_nothing(run, server, h, tmp_path: Path):
    code, out, err = run("import", "--input-file", str(h.TESTDATA))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["location"] == "South Central US" and doc["tags"] == {}
    assert doc["properties"]["packageType"] == "Graph"
    assert server.log == []


def test_import_json_string_and_output_file(run, h, tmp_path: Path):
    text = json.dumps({"Location": "West US", "Properties": {"Title": "t", "PackageType": "graph"}})
    out_file = tmp_path / "norm.json"
    code, out, err = run("import", "--json-string", text, "--output-file", str(out_file))
    assert code == 0, err
    assert json.loads(out_file.read_text()) == {"location": "West US", "properties": {"title": "t", "packageType": "Graph"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"properties": {"packageType": "Graph",}}', "malformed JSON at line 1"),
        ('{"location": "West US"}', "no 'properties'"),
        ('{"location": "West US", "properties": {"title": "x"}}', "properties.packageType"),
        ('{"properties": {"packageType": "Code"}}', "unsupported packageType"),
        ('{"properties": {"packageType": "Graph", "realtimeConfiguration": {"maxConcurrentCalls": 1000}}}', "above the maximum 200"),
        ('{"properties": {"packageType": "Graph", "readOnly": "no"}}', "expected boolean"),
        ('{"properties": {"packageType": "Graph", "assets": {"a1": {"name": "x"}}}}', "missing required property 'type'"),
        ('{"properties": {"packageType": "Graph", "Title": "a", "title": "b"}}', "given twice"),
    ],
)
def test_import_bad_input_is_one_clear_usage_error(run, server, text, message, tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    code, out, err = run("import", "--input-file", str(path), "--backend", "arm")
    assert code == 2, err
    assert message in err
    assert err.count("error:") == 1
    assert out == ""
    assert server.log == []


def test_old_string_valued_node_parameters_are_converted_with_a_warning(caplog):
    doc = {
        "location": "South Central US",
        "properties": {
            "packageType": "Graph",
            "parameters": {"Append score columns to output": "True"},
            "package": {"nodes": {"node1": {"assetId": "asset1", "parameters": {"Category": "Trigonometric", "Ok": {"Value": "x"}}}}},
        },
    }
    with caplog.at_level(logging.WARNING, logger="amlws"):
        out, warnings = defs.normalize(doc, "old.json")
    params = out["properties"]["package"]["nodes"]["node1"]["parameters"]
    assert params == {"Category": {"value": "Trigonometric"}, "Ok": {"value": "x"}}
    assert out["properties"]["parameters"] == {"Append score columns to output": {"value": "True"}}
    assert len(warnings) == 2 and all("old string-valued parameter" in w for w in warnings)
    assert "old string-valued parameter" in caplog.text


def test_export_strips_read_only_fields_and_null_properties_only(live_document, h):
    doc = copy.deepcopy(live_document)
    doc["properties"]["description"] = None
    doc["properties"]["exampleRequest"]["inputs"]["input1"][0][1] = None  # data: kept
    doc["properties"]["keys"] = {"primary": "k1-secret-value", "secondary": "k2-secret-value"}
    out = defs.export_document(doc)
    assert set(out) == {"location", "tags", "properties"}
    assert "description" not in out["properties"]
    assert out["properties"]["exampleRequest"]["inputs"]["input1"][0][1] is None
    assert "keys" not in out["properties"] and out["properties"]["storageAccount"] == {"name": h.STORAGE}
    assert defs.export_document(doc, include_keys=True)["properties"]["keys"]["primary"] == "k1-secret-value"
    assert list(out["properties"]) == [k for k in doc["properties"] if k in out["properties"]]  # order kept
    h.validate_request_body(out)


# --- patch-ilearner ------------------------------------------------------------------------------


def _with_models(live_document, *names):
    doc = defs.export_document(live_document)
    assets = doc["properties"]["assets"]
    del assets["asset3"]
    for i, name in enumerate(names):
        assets[f"model{i}"] = {"name": name, "type": "Resource", "locationInfo": {"uri": f"https://a.blob.core.windows.net/c/m{i}.ilearner"}}
    return doc


def test_patch_sets_the_trained_model_uri_only(live_document, h):
    doc = _with_models(live_document, "Sample [Trained Model]")
    loc = ModelLocation("https://acct.blob.core.windows.net/", "models/new.ilearner", "?" + h.NEW_SAS)
    out, asset_id = defs.patch_ilearner(doc, loc)
    assert asset_id == "model0"
    # BES form (base + relative + SAS): the walkthrough's URI is base + relative, no SAS.
    assert out["properties"]["assets"]["model0"]["locationInfo"]["uri"] == "https://acct.blob.core.windows.net/models/new.ilearner"
    assert doc["properties"]["assets"]["model0"]["locationInfo"]["uri"].endswith("m0.ilearner")  # input untouched
    out["properties"]["assets"]["model0"]["locationInfo"]["uri"] = doc["properties"]["assets"]["model0"]["locationInfo"]["uri"]
    assert out == doc


def test_patch_several_models_needs_asset(live_document):
    doc = _with_models(live_document, "A [trained model]", "B [trained model]")
    loc = ModelLocation.from_uri("https://acct.blob.core.windows.net/models/new.ilearner")
    with pytest.raises(UsageError, match="several trained-model assets"):
        defs.patch_ilearner(doc, loc)
    out, asset_id = defs.patch_ilearner(doc, loc, "model1")
    assert asset_id == "model1"
    assert out["properties"]["assets"]["model1"]["locationInfo"]["uri"] == loc.uri
    assert defs.patch_ilearner(doc, loc, "a [trained model]")[1] == "model0"  # by name, case-insensitive
    with pytest.raises(NotFoundError, match="no asset 'nope'"):
        defs.patch_ilearner(doc, loc, "nope")


def test_patch_without_trained_model_is_not_found(live_document):
    doc = _with_models(live_document)
    with pytest.raises(NotFoundError, match=r"\[trained model\]"):
        defs.patch_ilearner(doc, ModelLocation.from_uri("https://acct.blob.core.windows.net/models/new.ilearner"))


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://acct.blob.core.windows.net/models/new.csv", "does not name an .ilearner"),
        ("https://acct.blob.core.windows.net/models/new.ilearner?se=2001-01-01T00%3A00%3A00Z&sp=r&sig=x", "expired"),
        ("https://acct.blob.core.windows.net/models/new.ilearner?se=2099-01-01&sp=w&sig=x", "does not grant read"),
    ],
)
def test_patch_cli_rejects_bad_model_uri_and_leaves_file(run, server, live_document, tmp_path: Path, uri, message):
    path = tmp_path / "wsd.json"
    text = json.dumps(defs.export_document(live_document), indent=2)
    path.write_text(text, encoding="utf-8")
    code, out, err = run("patch-ilearner", str(path), "--uri", uri)
    assert code == 2, err
    assert message in err
    assert path.read_text(encoding="utf-8") == text  # nothing overwritten
    assert server.log == []


def test_patch_cli_accepts_a_bes_result(run, live_document, tmp_path: Path, h):
    path = tmp_path / "wsd.json"
    path.write_text(json.dumps(defs.export_document(live_document)), encoding="utf-8")
    bes = {"StatusCode": "Finished", "Results": {
        "output2": {"ConnectionString": None, "RelativeLocation": "models/scores.csv", "BaseLocation": "https://acct.blob.core.windows.net/", "SasBlobToken": "?" + h.NEW_SAS},
        "output1": {"ConnectionString": None, "RelativeLocation": "models/retrained.ilearner", "BaseLocation": "https://acct.blob.core.windows.net/", "SasBlobToken": "?" + h.NEW_SAS},
    }}
    out_file = tmp_path / "patched.json"
    code, out, err = run("patch-ilearner", str(path), "--bes-result", json.dumps(bes), "--output-file", str(out_file), "--yes")
    assert code == 0, err
    patched = json.loads(out_file.read_text())
    assert patched["properties"]["assets"]["asset3"]["locationInfo"]["uri"] == (
        "https://acct.blob.core.windows.net/models/retrained.ilearner"
    )
    assert "SECRETSIGNATURE123" not in out + err


def test_patch_with_uri_keeps_it_verbatim_and_checks_its_sas(live_document, h):
    doc = _with_models(live_document, "Sample [Trained Model]")
    uri = "https://acct.blob.core.windows.net/models/new.ilearner?" + h.NEW_SAS
    out, _ = defs.patch_ilearner(doc, ModelLocation.from_uri(uri))
    assert out["properties"]["assets"]["model0"]["locationInfo"]["uri"] == uri
    expired = "https://acct.blob.core.windows.net/models/new.ilearner?sv=2019-02-02&se=2001-01-01T00%3A00%3A00Z&sp=r&sr=b&sig=x"
    with pytest.raises(UsageError, match="expired"):
        defs.patch_ilearner(doc, ModelLocation.from_uri(expired))
    # The same expired SAS in BES form is not stored, so it does not block the patch.
    loc = ModelLocation("https://acct.blob.core.windows.net/", "models/new.ilearner", "?sv=2019-02-02&se=2001-01-01T00%3A00%3A00Z&sp=r&sr=b&sig=x")
    assert defs.patch_ilearner(doc, loc)[0]["properties"]["assets"]["model0"]["locationInfo"]["uri"].endswith("new.ilearner")


def test_patch_cli_accepts_a_plain_http_uri_only_with_allow_http(run, live_document, tmp_path: Path):
    """The create-models walkthrough uses http:// blob URLs: refused by default (a SAS over http leaks),
    patched as given with --allow-http, with a warning on stderr."""
    path = tmp_path / "wsd.json"
    path.write_text(json.dumps(defs.export_document(live_document)), encoding="utf-8")
    out_file = tmp_path / "patched.json"
    uri = "http://bostonmtc.blob.core.windows.net/models/loc1.ilearner"
    code, out, err = run("patch-ilearner", str(path), "--uri", uri, "--output-file", str(out_file), "--yes")
    assert code == 2 and "plain http" in err and "https://bostonmtc.blob.core.windows.net/models/loc1.ilearner" in err
    assert not out_file.exists()
    code, out, err = run("patch-ilearner", str(path), "--uri", uri, "--output-file", str(out_file), "--yes", "--allow-http")
    assert code == 0, err
    assert json.loads(out_file.read_text())["properties"]["assets"]["asset3"]["locationInfo"]["uri"] == uri
    assert "plain http" in err


# --- patch-model: the neutral name, the same file -------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--asset", "model1"], ["--asset", "model1", "--output-file", "OUT", "--yes"]])
def test_patch_model_writes_what_patch_ilearner_writes(run, server, live_document, tmp_path: Path, h, extra):
    """ARM has no amlws_patch_model: the host reads the reference as a .ilearner location and calls
    amlws_patch_ilearner, so the file and the JSON printed are patch-ilearner --uri's, byte for byte."""
    uri = "https://acct.blob.core.windows.net/models/new.ilearner?" + h.NEW_SAS
    doc = _with_models(live_document, "A [trained model]", "B [trained model]") if extra else defs.export_document(live_document)
    results = {}
    for command, option in (("patch-ilearner", "--uri"), ("patch-model", "--model")):
        path = tmp_path / command / "wsd.json"
        path.parent.mkdir()
        path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        args = [str(path.parent / "out.json") if a == "OUT" else a for a in extra]
        code, out, err = run(command, str(path), option, uri, "-o", "json", *args)
        assert code == 0, err
        written = path.parent / "out.json" if "--output-file" in extra else path
        results[command] = (json.loads(out.replace(str(path.parent), "DIR")), written.read_bytes())
    assert results["patch-model"] == results["patch-ilearner"]
    out, written = results["patch-model"]
    asset = "model1" if extra else "asset3"
    assert json.loads(written)["properties"]["assets"][asset]["locationInfo"]["uri"] == uri
    assert out["backend"] == "arm" and out["modelUri"].startswith("https://acct.blob.core.windows.net/models/new.ilearner?")
    assert "SECRETSIGNATURE123" not in json.dumps(out)  # the SAS signature is redacted, as patch-ilearner's
    assert server.log == []


@pytest.mark.parametrize(("model", "what"), [
    ("azureml:bike-rental:2", "an Azure ML model version"),
    ("azureml://registries/reg/models/bike-rental/versions/2", "an Azure ML model version"),
    ("bike-rental@latest", "an Azure ML model version"),
    ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/models/m/versions/2",
     "an Azure ML model version"),
    ("new.ilearner", "not a blob URL"),
])
def test_patch_model_refuses_a_model_version_for_a_studio_definition(run, server, live_document, tmp_path: Path, model, what):
    path = tmp_path / "wsd.json"
    text = json.dumps(defs.export_document(live_document), indent=2)
    path.write_text(text, encoding="utf-8")
    code, out, err = run("patch-model", str(path), "--model", model)
    assert code == 2 and out == ""
    assert err == (f"error: a Studio definition takes a .ilearner location; {model!r} is {what} (fix: give the blob URL of the "
                   "trained .ilearner with its SAS (what patch-ilearner --uri takes), e.g. "
                   "https://ACCOUNT.blob.core.windows.net/CONTAINER/model.ilearner?SAS)\n")
    assert path.read_text(encoding="utf-8") == text
    assert server.log == []


def test_patch_model_what_if_shows_the_diff_and_writes_nothing(run, server, live_document, tmp_path: Path):
    path = tmp_path / "wsd.json"
    text = json.dumps(defs.export_document(live_document), indent=2)
    path.write_text(text, encoding="utf-8")
    code, out, err = run("patch-model", str(path), "--model", "https://acct.blob.core.windows.net/models/new.ilearner", "--what-if", "-o", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["whatIf"] is True and plan["wouldWrite"] == str(path)
    assert re.search(r'^\+ +"uri": "https://acct.blob.core.windows.net/models/new.ilearner"$', plan["diff"], re.MULTILINE)
    assert path.read_text(encoding="utf-8") == text
    assert server.log == []


def test_export_leaves_out_an_empty_parameters_map_but_requests_send_it():
    from amlws.plugins.arm.definition import export_document, request_body

    doc = {"location": "West US", "properties": {"packageType": "Graph", "title": "t", "parameters": {}}}
    assert "parameters" not in export_document(doc)["properties"]  # the service drops it after a PATCH
    assert json.loads(request_body(doc))["properties"]["parameters"] == {}  # a request sends what the file says
    kept = {"location": "West US", "properties": {"packageType": "Graph", "parameters": {"seed": {"value": "1"}}}}
    assert export_document(kept)["properties"]["parameters"] == {"seed": {"value": "1"}}
