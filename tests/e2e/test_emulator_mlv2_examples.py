"""Replay the official spec's examples (tests/data/specs/mlv2/examples, verbatim copies) against the
emulator and compare the shapes of its answers with theirs.

Each example is sent with its own path parameters and request body; the emulator is seeded with the
workspaces (and the one deployment ``getLogs``/``delete`` name) the examples use. Only what the
emulator validates is substituted, and each substitution is listed in ``SUBSTITUTE``. A response
matches when its status is one the example lists and, for that status, every key of the example's
body is present with the same JSON type (``{"string": x}`` and ``{}`` are maps: every entry must
have x's shape); keys the emulator adds must be names the spec excerpt defines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

from .conftest import Http

SPECS = Path(__file__).resolve().parents[1] / "data" / "specs" / "mlv2"
EXAMPLES = SPECS / "examples"
ARM = {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}
W = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}"
MODEL_ID = ("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/test-rg/providers/"
            "Microsoft.MachineLearningServices/workspaces/my-aml-workspace/models/bike/versions/1")

#: replayed in this order (later examples read what earlier ones created): file, method, path
REPLAY = [
    ("Workspace/OnlineEndpoint/createOrUpdate.json", "PUT", W + "/onlineEndpoints/{endpointName}"),
    ("OnlineDeployment/ManagedOnlineDeployment/createOrUpdate.json", "PUT", W + "/onlineEndpoints/{endpointName}/deployments/{deploymentName}"),
    ("Workspace/OnlineEndpoint/get.json", "GET", W + "/onlineEndpoints/{endpointName}"),
    ("Workspace/OnlineEndpoint/list.json", "GET", W + "/onlineEndpoints"),
    ("OnlineDeployment/ManagedOnlineDeployment/get.json", "GET", W + "/onlineEndpoints/{endpointName}/deployments/{deploymentName}"),
    ("OnlineDeployment/list.json", "GET", W + "/onlineEndpoints/{endpointName}/deployments"),
    ("OnlineDeployment/ManagedOnlineDeployment/update.json", "PATCH", W + "/onlineEndpoints/{endpointName}/deployments/{deploymentName}"),
    ("Workspace/OnlineEndpoint/update.json", "PATCH", W + "/onlineEndpoints/{endpointName}"),
    ("../examples-2025-06-01/Workspace/OnlineEndpoint/listKeys.json", "POST", W + "/onlineEndpoints/{endpointName}/listKeys"),
    ("Workspace/OnlineEndpoint/getToken.json", "POST", W + "/onlineEndpoints/{endpointName}/token"),
    ("OnlineDeployment/getLogs.json", "POST", W + "/onlineEndpoints/{endpointName}/deployments/{deploymentName}/getLogs"),
    ("Workspace/OnlineDeployment/delete.json", "DELETE", W + "/onlineEndpoints/{endpointName}/deployments/{deploymentName}"),
    ("Workspace/ModelContainer/createOrUpdate.json", "PUT", W + "/models/{name}"),
    ("Workspace/ModelContainer/get.json", "GET", W + "/models/{name}"),
    ("Workspace/ModelContainer/list.json", "GET", W + "/models"),
    ("Workspace/ModelVersion/createOrUpdate.json", "PUT", W + "/models/{name}/versions/{version}"),
    ("Workspace/ModelVersion/get.json", "GET", W + "/models/{name}/versions/{version}"),
    ("Workspace/ModelVersion/list.json", "GET", W + "/models/{name}/versions"),
    ("Workspace/OnlineEndpoint/delete.json", "DELETE", W + "/onlineEndpoints/{endpointName}"),
]

#: examples of operations the emulator does not serve (yet): batch endpoints and key regeneration
NOT_EMULATED = {
    "Workspace/BatchDeployment/get.json", "Workspace/BatchDeployment/createOrUpdate.json",
    "Workspace/BatchEndpoint/get.json", "Workspace/BatchEndpoint/createOrUpdate.json",
    "Workspace/OnlineEndpoint/regenerateKeys.json",
}
#: replayed by test_emulator_mlv2_jobs.py (jobs and datastores need Azurite)
REPLAYED_WITH_JOBS = {"Datastore/get.json", "Job/cancel.json", "Job/CommandJob/get.json", "Job/CommandJob/createOrUpdate.json"}

#: request-body values the emulator would refuse, replaced (file -> dotted path -> value)
SUBSTITUTE: dict[str, dict[str, Any]] = {
    # {"string": 1}: an unknown deployment and a sum of 1 break the traffic rules (no deployment exists yet)
    "Workspace/OnlineEndpoint/createOrUpdate.json": {"properties.traffic": {}},
    # "string" is not a registered model version: the operation would fail (the PUT's answer would not change)
    "OnlineDeployment/ManagedOnlineDeployment/createOrUpdate.json": {"properties.model": MODEL_ID},
}

#: keys of an example the emulator rightly does not send: ``nextLink`` is absent on the last page
#: (x-ms-pageable; test_emulator_mlv2.py pages with $top), and known example drift (REFERENCE §13)
OPTIONAL = {"nextLink"}
DRIFT = {
    # the list example's item is a Kubernetes deployment; the emulator's is the Managed one created above
    "OnlineDeployment/list.json": {"value[].properties.containerResourceRequirements"},
}


def _seed() -> dict[str, Any]:
    train = {"train": demo.DEMO_MLV2_TRAINING["1"]}
    return {
        "armTokens": [demo.DEMO_ARM_TOKEN],
        "mlv2Workspaces": [
            {"subscription": "00000000-1111-2222-3333-444444444444", "resourceGroup": "test-rg", "name": "my-aml-workspace",
             "models": [{"name": "bike", "versions": {"1": train}}]},
            {"subscription": "00000000-1111-2222-3333-444444444444", "resourceGroup": "testrg123", "name": "workspace123",
             "endpoints": [{"name": "testEndpoint", "deployments": [{"name": "testDeployment", "model": MODEL_ID}]}]},
        ],
    }


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    with EmulatorServer(seed=_seed(), cert_dir=tmp_path_factory.mktemp("certs"),
                        settings={"transitions": {"mlv2_lro": {"mode": "immediate"}}}) as server:
        yield Http(server)


def _schema_names() -> set[str]:
    doc = json.loads((SPECS / "schema-excerpt.json").read_text(encoding="utf-8"))
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                names.update(node["properties"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return names


SCHEMA_NAMES = _schema_names()


def shape_problems(example: Any, ours: Any, path: str = "", skip: frozenset[str] = frozenset()) -> list[str]:
    if path in skip:
        return []
    if isinstance(example, dict):
        if not isinstance(ours, dict):
            return [f"{path or '<body>'}: expected an object, got {type(ours).__name__}"]
        if not example or set(example) == {"string"}:  # a map
            return [p for k, v in ours.items() if example for p in shape_problems(example["string"], v, f"{path}.{{{k}}}", skip)]
        problems = []
        for k, v in example.items():
            sub = f"{path}.{k}" if path else k
            if k not in ours:
                if sub not in skip:
                    problems.append(f"{sub}: missing")
                continue
            problems += shape_problems(v, ours[k], sub, skip)
        problems += [f"{path}.{k}: not a name the spec defines" for k in ours if k not in example and k not in SCHEMA_NAMES]
        return problems
    if isinstance(example, list):
        if not isinstance(ours, list):
            return [f"{path}: expected a list"]
        return [p for item in ours for p in shape_problems(example[0], item, f"{path}[]", skip)] if example else []
    if example is None:
        return []
    if isinstance(example, bool):
        return [] if isinstance(ours, bool) else [f"{path}: expected a boolean, got {ours!r}"]
    if isinstance(example, (int, float)):
        ok = isinstance(ours, (int, float)) and not isinstance(ours, bool)
        return [] if ok else [f"{path}: expected a number, got {ours!r}"]
    return [] if isinstance(ours, str) else [f"{path}: expected a string, got {ours!r}"]


#: the spec definition each replayed answer is validated against (schema-excerpt.json)
RESPONSE_DEFINITION = {
    "Workspace/OnlineEndpoint/createOrUpdate.json": "OnlineEndpointTrackedResource",
    "Workspace/OnlineEndpoint/get.json": "OnlineEndpointTrackedResource",
    "Workspace/OnlineEndpoint/update.json": "OnlineEndpointTrackedResource",
    "Workspace/OnlineEndpoint/list.json": "OnlineEndpointTrackedResourceArmPaginatedResult",
    "OnlineDeployment/ManagedOnlineDeployment/createOrUpdate.json": "OnlineDeploymentTrackedResource",
    "OnlineDeployment/ManagedOnlineDeployment/get.json": "OnlineDeploymentTrackedResource",
    "OnlineDeployment/ManagedOnlineDeployment/update.json": "OnlineDeploymentTrackedResource",
    "OnlineDeployment/list.json": "OnlineDeploymentTrackedResourceArmPaginatedResult",
    "../examples-2025-06-01/Workspace/OnlineEndpoint/listKeys.json": "EndpointAuthKeys",
    "Workspace/OnlineEndpoint/getToken.json": "EndpointAuthToken",
    "OnlineDeployment/getLogs.json": "DeploymentLogs",
    "Workspace/ModelContainer/createOrUpdate.json": "ModelContainerResource",
    "Workspace/ModelContainer/get.json": "ModelContainerResource",
    "Workspace/ModelContainer/list.json": "ModelContainerResourceArmPaginatedResult",
    "Workspace/ModelVersion/createOrUpdate.json": "ModelVersionResource",
    "Workspace/ModelVersion/get.json": "ModelVersionResource",
    "Workspace/ModelVersion/list.json": "ModelVersionResourceArmPaginatedResult",
}


def _definitions() -> dict[str, Any]:
    """schema-excerpt.json's definitions with the common types merged in, file references made local
    and every ``allOf`` flattened into its definition (Draft 4's ``additionalProperties: false``
    would otherwise refuse the inherited properties)."""
    doc = json.loads((SPECS / "schema-excerpt.json").read_text(encoding="utf-8"))
    defs = dict(doc["definitions"])
    for common in doc["x-common-types"].values():
        defs.update(common["definitions"])
    text = json.dumps(defs)
    for f in ("types.json", "managedidentity.json"):
        text = text.replace(f"../../../../../common-types/resource-management/v3/{f}#", "#")
    defs = json.loads(text)

    def flat(name: str) -> dict[str, Any]:
        d = defs[name]
        for part in d.pop("allOf", []):
            base = flat(part["$ref"].rsplit("/", 1)[-1]) if "$ref" in part else part
            d["properties"] = {**base.get("properties", {}), **d.get("properties", {})}
            d["required"] = sorted({*base.get("required", []), *d.get("required", [])})
            d.setdefault("type", base.get("type"))
        return d

    for name in list(defs):
        flat(name)
    return defs


DEFINITIONS = _definitions()


def schema_errors(body: Any, definition: str) -> list[str]:
    from jsonschema import Draft4Validator

    validator = Draft4Validator({"$ref": f"#/definitions/{definition}", "definitions": DEFINITIONS})
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]


def _set(body: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        body = body[p]
    body[last] = value


def test_every_example_is_replayed_or_named_as_not_emulated() -> None:
    files = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.json")}
    replayed = {f for f, _, _ in REPLAY if not f.startswith("..")}
    from .test_emulator_mlv2_jobs import JOB_EXAMPLES

    assert {f for f, _, _ in JOB_EXAMPLES} == REPLAYED_WITH_JOBS
    assert files == replayed | NOT_EMULATED | REPLAYED_WITH_JOBS
    assert not replayed & NOT_EMULATED


def _wait_location(h: Http, url: str) -> Any:
    for _ in range(200):
        r = h.get(url, headers=ARM)
        if r.status_code != 202:
            return r
        time.sleep(0.02)
    raise AssertionError("operation did not end")


@pytest.mark.parametrize("name, method, template", REPLAY, ids=[f for f, _, _ in REPLAY])
def test_example_replay(replay_server: Http, name: str, method: str, template: str) -> None:
    example = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    params = example["parameters"]
    path = template.format(**params)
    body = json.loads(json.dumps(params["body"])) if "body" in params else None
    for dotted, value in SUBSTITUTE.get(name, {}).items():
        _set(body, dotted, value)
    r = replay_server.request(method, path, params={"api-version": params["api-version"]}, headers=ARM, json=body)
    responses = example["responses"]
    assert str(r.status_code) in responses, (r.status_code, r.text)
    expected = responses[str(r.status_code)]
    for header in (expected.get("headers") or {}):
        assert header in r.headers, f"{name}: header {header} missing"
    skip = frozenset(DRIFT.get(name, ())) | OPTIONAL
    if "body" in expected:
        answer = r.json()
        problems = shape_problems(expected["body"], answer, skip=skip)
    elif r.status_code == 202 and "body" in responses.get("200", {}):
        # a PATCH answered asynchronously: its final answer (the Location URL) is the 200 example's shape
        final = _wait_location(replay_server, r.headers["Location"])
        assert final.status_code == 200
        answer = final.json()
        problems = shape_problems(responses["200"]["body"], answer, skip=skip)
    else:
        assert not r.content
        return
    assert not problems, f"{name}: {problems}"
    assert not schema_errors(answer, RESPONSE_DEFINITION[name]), f"{name}: {schema_errors(answer, RESPONSE_DEFINITION[name])[:5]}"


def test_schema_validation_catches_differences() -> None:
    """The validator itself: a valid endpoint passes; a string share, a missing authMode and an
    unknown property each fail."""
    good = {"id": "x", "name": "ep", "type": "t", "location": "l", "properties": {"authMode": "Key", "traffic": {"blue": 100}}}
    assert schema_errors(good, "OnlineEndpointTrackedResource") == []
    bad = {"location": "l", "properties": {"traffic": {"blue": "100"}, "bogus": 1}}
    errors = schema_errors(bad, "OnlineEndpointTrackedResource")
    assert any("'100' is not of type 'integer'" in e for e in errors)
    assert any("'authMode' is a required property" in e for e in errors)
    assert any("'bogus' was unexpected" in e for e in errors)


def test_shape_comparison_catches_differences() -> None:
    """The comparison itself: a missing key, a wrong type and an invented key are each reported."""
    example = {"id": "string", "properties": {"traffic": {"string": 1}, "flag": False}, "tags": {}}
    assert shape_problems(example, {"id": "x", "properties": {"traffic": {"a": 100}, "flag": True}, "tags": {"k": "v"}}) == []
    assert shape_problems(example, {"properties": {"traffic": {"a": "100"}, "flag": 1}, "tags": {}, "bogusKey": 1}) == [
        "id: missing", "properties.traffic.{a}: expected a number, got '100'",
        "properties.flag: expected a boolean, got 1", ".bogusKey: not a name the spec defines"]
