"""Seed data: the built-in demo (well-known credentials, like Azurite's ``devstoreaccount1``) and
JSON seed files (``amlws emulator serve --seed FILE``, ``POST /_emulator/seed``).

Seed file format (every list optional)::

    {
      "storageConnectionString": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;...",
      "armTokens": ["token"],
      "subscriptions": [{"id": "<guid>", "resourceGroups": ["rg"]}],
      "workspaces": [{"id": "<32 hex>", "name": "...", "region": "South Central US", "tier": "Standard",
                      "token": "...", "secondaryToken": "...",
                      "services": [{"id": "<32 hex>", "name": "...", "kind": "training" | "predictive",
                                    "training": {"label": "y", "features": ["x"], "algorithm": "linear"},
                                    "resourceName": "... [trained model]",
                                    "model": {"label": "y", "intercept": 1.0, "coefficients": {"x": 2.0}},
                                    "defaultEndpointKeys": ["primary", "secondary"],
                                    "endpoints": [{"name": "ep1", "description": "...", "keys": ["p", "s"]}]}]}],
      "armServices": [{"subscription": "<guid>", "resourceGroup": "rg", "name": "...", "location": "South Central US",
                       "title": "...", "keys": {"primary": "...", "secondary": "..."}, "workspace": "<32 hex>",
                       "training": {...}, "resourceName": "... [trained model]", "model": {...}}],
      "mlv2Workspaces": [{"subscription": "<guid>", "resourceGroup": "rg", "name": "ws", "location": "southcentralus",
                          "models": [{"name": "m", "versions": {"1": {<model spec, or "train": {"csv": "...", "label": "y"}>}}}],
                          "endpoints": [{"name": "ep", "authMode": "Key", "keys": ["primary", "secondary"],
                                         "deployments": [{"name": "blue", "model": "m:1" (or a version's id)}],
                                         "traffic": {"blue": 100}}]}]
    }
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from . import mlmodel
from .arm_models import RESOURCE_TYPE, SERVICE, resource_id
from .core import hex_id, iso, new_key

# Well-known demo credentials: published on purpose, refused on non-loopback binds.
DEMO_SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"
DEMO_TENANT = "00000000-0000-4000-8000-0000000000aa"
DEMO_RESOURCE_GROUP = "amlws-demo"
DEMO_ARM_TOKEN = "amlws-emulator-demo-arm-token"
DEMO_WORKSPACE = "d2f62586bed343d621441d55b3872d53"
DEMO_WORKSPACE_TOKEN = "amlws-emulator-demo-workspace-token"
DEMO_API_KEY = "amlws-emulator-demo-api-key"
DEMO_API_KEY_SECONDARY = "amlws-emulator-demo-api-key-secondary"
DEMO_CREDENTIAL_VALUES = frozenset({DEMO_ARM_TOKEN, DEMO_WORKSPACE_TOKEN, DEMO_API_KEY, DEMO_API_KEY_SECONDARY})

DEMO_TRAINING_SERVICE = "7a1e0000000000000000000000000001"
DEMO_PREDICTIVE_SERVICE = "5c0e0000000000000000000000000002"
DEMO_ENDPOINT = "retrain01"
DEMO_ARM_TRAINING = "bike-rental-training"
DEMO_ARM_PREDICTIVE = "bike-rental-predictive"
DEMO_RESOURCE_NAME = "Bike Rental [trained model]"
SEED_MODEL_CONTAINER = "amlws-emulator-models"
DEMO_TRAINING = {"label": "rentals", "features": ["temperature", "humidity"], "algorithm": "linear"}
#: the "currently deployed" model: deliberately poor, so a retrain visibly changes predictions.
DEMO_MODEL = {"label": "rentals", "intercept": 100.0, "coefficients": {"temperature": 4.0, "humidity": -0.5}}

# Azure ML v2 (Microsoft.MachineLearningServices): one workspace, one model with two versions
# trained on different data, one online endpoint whose deployment "blue" serves version 1.
DEMO_MLV2_WORKSPACE = "amlws-demo-ws"
DEMO_MLV2_LOCATION = "southcentralus"
DEMO_MLV2_MODEL = "bike-rentals"
DEMO_MLV2_ENDPOINT = "bike-rentals-ep"
DEMO_MLV2_DEPLOYMENT = "blue"


def demo_training_csv(intercept: float, temperature: float, humidity: float, rows: int = 48) -> str:
    """Deterministic bike-rental data (a fixed pattern of noise, no randomness), so the emulator's
    trainer learns the same model on every start."""
    lines = ["temperature,humidity,rentals"]
    for i in range(rows):
        t, h = float(i % 35), float((i * 7) % 90)
        noise = ((i * 13) % 11 - 5) * 0.5
        lines.append(f"{t},{h},{intercept + temperature * t + humidity * h + noise:.3f}")
    return "\n".join(lines) + "\n"


#: version 1: trained on last year's data; version 2: on this year's (more rentals per degree)
DEMO_MLV2_TRAINING = {"1": {"csv": demo_training_csv(60.0, 3.0, -0.3), "label": "rentals"},
                      "2": {"csv": demo_training_csv(25.0, 7.0, -0.8), "label": "rentals"}}


def demo_bad_csv(rows: int = 48) -> str:
    """Bike-rental rows whose rentals have nothing to do with the weather (a broken export): the
    trainer's model of them is clearly worse (r2 about 0, where the good data gives 0.99)."""
    lines = ["temperature,humidity,rentals"]
    for i in range(rows):
        lines.append(f"{float(i % 35)},{float((i * 7) % 90)},{((i * 37) % 101) * 3.0:.3f}")
    return "\n".join(lines) + "\n"


#: a completed training job (its definition is what `retrain --from-job` copies) and the CSVs on the
#: workspace's default datastore: what it trained on, new data, and bad data
DEMO_MLV2_JOB = "train-bike-rentals-1"
DEMO_MLV2_DATA = {"data/bike-rentals/train.csv": DEMO_MLV2_TRAINING["1"]["csv"],
                  "data/bike-rentals/new.csv": demo_training_csv(40.0, 5.0, -0.6),
                  "data/bike-rentals/bad.csv": demo_bad_csv()}


def demo_job_properties(data_path: str = "data/bike-rentals/train.csv") -> dict[str, Any]:
    """A command job of the emulator's built-in trainer on a CSV of the default datastore."""
    from .mlv2_jobs import TRAINER_COMMAND

    return {"jobType": "Command", "displayName": "train bike rentals", "experimentName": "bike-rentals",
            "command": TRAINER_COMMAND,
            "environmentId": "azureml://registries/azureml/environments/sklearn-1.5/versions/1",
            "inputs": {"train": {"jobInputType": "uri_file", "mode": "ReadOnlyMount",
                                 "uri": f"azureml://datastores/workspaceblobstore/paths/{data_path}"}},
            "outputs": {"model": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}},
            "tags": {}}


def demo_seed() -> dict[str, Any]:
    """The demo: its services use the emulator's default storage, whatever it is when they are used."""
    return {
        "armTokens": [DEMO_ARM_TOKEN],
        "subscriptions": [{"id": DEMO_SUBSCRIPTION, "resourceGroups": [DEMO_RESOURCE_GROUP]}],
        "workspaces": [{
            "id": DEMO_WORKSPACE, "name": "amlws demo workspace", "region": "South Central US", "tier": "Standard",
            "token": DEMO_WORKSPACE_TOKEN, "secondaryToken": DEMO_WORKSPACE_TOKEN + "-secondary",
            "services": [
                {"id": DEMO_TRAINING_SERVICE, "name": "Bike Rental Training", "kind": "training", "training": DEMO_TRAINING,
                 "defaultEndpointKeys": [DEMO_API_KEY, DEMO_API_KEY_SECONDARY]},
                {"id": DEMO_PREDICTIVE_SERVICE, "name": "Bike Rental [predictive exp.]", "kind": "predictive",
                 "resourceName": DEMO_RESOURCE_NAME, "model": DEMO_MODEL,
                 "defaultEndpointKeys": [DEMO_API_KEY, DEMO_API_KEY_SECONDARY],
                 "endpoints": [{"name": DEMO_ENDPOINT, "description": "Endpoint that retraining updates",
                                "keys": [DEMO_API_KEY, DEMO_API_KEY_SECONDARY]}]},
            ],
        }],
        "armServices": [
            {"subscription": DEMO_SUBSCRIPTION, "resourceGroup": DEMO_RESOURCE_GROUP, "name": DEMO_ARM_TRAINING,
             "location": "South Central US", "title": "Bike Rental Training", "workspace": DEMO_WORKSPACE,
             "keys": {"primary": DEMO_API_KEY, "secondary": DEMO_API_KEY_SECONDARY}, "training": DEMO_TRAINING},
            {"subscription": DEMO_SUBSCRIPTION, "resourceGroup": DEMO_RESOURCE_GROUP, "name": DEMO_ARM_PREDICTIVE,
             "location": "South Central US", "title": "Bike Rental Predictive", "workspace": DEMO_WORKSPACE,
             "keys": {"primary": DEMO_API_KEY, "secondary": DEMO_API_KEY_SECONDARY},
             "resourceName": DEMO_RESOURCE_NAME, "model": DEMO_MODEL},
        ],
        "mlv2Workspaces": [{
            "subscription": DEMO_SUBSCRIPTION, "resourceGroup": DEMO_RESOURCE_GROUP, "name": DEMO_MLV2_WORKSPACE,
            "location": DEMO_MLV2_LOCATION,
            "data": dict(DEMO_MLV2_DATA),
            "jobs": [{"name": DEMO_MLV2_JOB, "properties": demo_job_properties()}],
            "models": [{"name": DEMO_MLV2_MODEL, "versions": {v: {"train": t} for v, t in DEMO_MLV2_TRAINING.items()}}],
            "endpoints": [{"name": DEMO_MLV2_ENDPOINT, "authMode": "Key", "keys": [DEMO_API_KEY, DEMO_API_KEY_SECONDARY],
                           "deployments": [{"name": DEMO_MLV2_DEPLOYMENT, "model": f"{DEMO_MLV2_MODEL}:1"}],
                           "traffic": {DEMO_MLV2_DEPLOYMENT: 100}}],
        }],
    }


def load_seed(seed: Any) -> dict[str, Any]:
    """``"demo"``, a seed dict or a seed file's path, as a seed dict."""
    if seed == "demo":
        return demo_seed()
    if isinstance(seed, dict):
        return seed
    try:
        data = json.loads(Path(seed).read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"seed file {seed} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"seed file {seed} must hold a JSON object")
    return data


def _model_location(emu: Any, spec: Any, storage: str | None = None) -> dict[str, Any] | None:
    if spec is None:
        return None
    if isinstance(spec, dict) and "BaseLocation" in spec:
        return spec
    model = spec if spec.get("format") == mlmodel.ILEARNER_FORMAT else mlmodel.make_model(
        label=spec["label"], coefficients=spec["coefficients"], intercept=spec.get("intercept", 0.0),
        algorithm=spec.get("algorithm", "linear_regression"), classes=spec.get("classes"))
    storage = storage or emu.setting("storage_connection_string")
    if storage:
        # like a deployed experiment's model: a blob in the service's storage, readable with a SAS
        from . import blobs

        ref = {"ConnectionString": storage, "RelativeLocation": f"{SEED_MODEL_CONTAINER}/{hex_id()}.ilearner"}
        try:
            out = blobs.write_blob(ref, mlmodel.dumps(model), sas_hours=24 * 365)
            return {"BaseLocation": out["BaseLocation"], "RelativeLocation": out["RelativeLocation"], "SasBlobToken": out["SasBlobToken"]}
        except blobs.BlobError as exc:
            import sys

            sys.stderr.write(f"amlws emulator: seed model kept in the emulator (storage not reachable: {exc})\n")
    return emu.bes.backend.put_internal_model(model)


def apply_seed(emu: Any, seed: dict[str, Any]) -> dict[str, Any]:
    """Load a seed into the emulator; returns a summary with the URLs and credentials it created."""
    from .server import is_loopback

    if not is_loopback(emu.host):
        used = {*(seed.get("armTokens") or [])} | {w.get("token") for w in seed.get("workspaces") or []}
        if used & DEMO_CREDENTIAL_VALUES:
            raise ValueError("refusing the well-known demo credentials on a non-loopback address")
    base = emu.base_url
    summary: dict[str, Any] = {"workspaces": [], "armServices": []}
    # A seed's own storage is where its services live; it becomes the emulator's default storage
    # (for this run) only when none was configured at start: configuration given at start wins.
    seed_storage = seed.get("storageConnectionString")
    if seed_storage and not emu.setting("storage_connection_string"):
        emu.update_settings({"storage_connection_string": seed_storage})
    if seed.get("armTokens"):
        emu.add_arm_tokens(list(seed["armTokens"]))
    arm = emu.arm.backend
    for sub in seed.get("subscriptions") or []:
        arm.add_subscription(sub["id"], list(sub.get("resourceGroups") or []))
    classic = emu.classic.backend
    for ws in seed.get("workspaces") or []:
        ws_doc = classic.add_workspace(ws["id"], name=ws.get("name", ""), region=ws.get("region", "South Central US"),
                                       tier=ws.get("tier", "Standard"), token=ws.get("token"),
                                       secondary_token=ws.get("secondaryToken"),
                                       storage_connection_string=ws.get("storageConnectionString") or seed.get("storageConnectionString"))
        ws_summary: dict[str, Any] = {"id": ws["id"], "token": ws_doc["tokens"][0], "services": []}
        for svc in ws.get("services") or []:
            svc_id = svc.get("id") or hex_id()
            keys = svc.get("defaultEndpointKeys")
            classic.add_service(ws["id"], svc_id, name=svc["name"], description=svc.get("description", ""),
                                kind=svc.get("kind", "predictive"), training=svc.get("training"),
                                resource_name=svc.get("resourceName"),
                                default_model=_model_location(emu, svc.get("model"), ws.get("storageConnectionString") or seed_storage),
                                default_endpoint_keys=tuple(keys) if keys else None)
            for ep in svc.get("endpoints") or []:
                classic.put_endpoint(ws["id"], svc_id, ep["name"], {"Description": ep.get("description", "")})
                if ep.get("keys"):
                    key = f"{ws['id']}/{svc_id}/{ep['name']}".lower()
                    doc = emu.store.get("classic_endpoint", key)
                    doc["PrimaryKey"], doc["SecondaryKey"] = ep["keys"][0], ep["keys"][1]
                    emu.store.put("classic_endpoint", key, doc)
            eps = classic.list_endpoints(ws["id"], svc_id)
            ws_summary["services"].append({
                "id": svc_id, "name": svc["name"], "kind": svc.get("kind", "predictive"),
                "endpoints": [{"name": e["Name"], "apiLocation": e["ApiLocation"], "primaryKey": e["PrimaryKey"],
                               "managementUrl": f"{base}/workspaces/{ws['id']}/webservices/{svc_id}/endpoints/{e['Name']}"}
                              for e in eps]})
        summary["workspaces"].append(ws_summary)
    for svc in seed.get("armServices") or []:
        summary["armServices"].append(_seed_arm_service(emu, svc, seed))
    if seed.get("mlv2Workspaces"):
        summary["mlv2Workspaces"] = [_seed_mlv2_workspace(emu, ws, seed) for ws in seed["mlv2Workspaces"]]
    return summary


def _seed_mlv2_workspace(emu: Any, ws: dict[str, Any], seed: dict[str, Any]) -> dict[str, Any]:
    """A v2 workspace with its models (trained here by the emulator's trainer when given data), and
    endpoints whose deployments are already running (provisioning state Succeeded)."""
    from . import mlv2_models as m2

    sub, rg, name, location = ws["subscription"], ws["resourceGroup"], ws["name"], ws.get("location", "southcentralus")
    backend = emu.mlv2.backend
    backend.add_workspace(sub, rg, name, location)
    out: dict[str, Any] = {"id": m2.workspace_id(sub, rg, name), "models": {}, "endpoints": []}
    if ws.get("data") or ws.get("jobs"):
        out["jobs"] = _seed_mlv2_jobs(emu, sub, rg, name, ws)
    for model in ws.get("models") or []:
        for version, spec in (model.get("versions") or {}).items():
            if "train" in spec:
                doc, _metrics = mlmodel.train(spec["train"]["csv"], label=spec["train"]["label"],
                                              features=spec["train"].get("features"), algorithm=spec["train"].get("algorithm", "linear"))
            else:
                doc = spec
            loc = _model_location(emu, doc, ws.get("storageConnectionString") or seed.get("storageConnectionString")) or {}
            _, body = backend.put_version(sub, rg, name, model["name"], str(version), {"properties": {
                "modelUri": loc["BaseLocation"] + loc["RelativeLocation"], "modelType": "custom_model",
                "description": spec.get("description") or f"{model['name']} version {version} (amlws emulator seed)"}})
            out["models"].setdefault(model["name"], {})[str(version)] = body["id"]
    for ep in ws.get("endpoints") or []:
        keys = ep.get("keys") or [None, None]
        backend.put_endpoint(sub, rg, name, ep["name"], {"location": location, "identity": {"type": "SystemAssigned"}, "properties": {
            "authMode": ep.get("authMode", "Key"), "description": ep.get("description", "amlws emulator seed"),
            "keys": {"primaryKey": keys[0], "secondaryKey": keys[1]}}})
        for dep in ep.get("deployments") or []:
            model_name, _, version = str(dep["model"]).partition(":")
            model_id = dep["model"] if str(dep["model"]).startswith("/") else \
                f"{m2.workspace_id(sub, rg, name)}/models/{model_name}/versions/{version}"
            backend.put_deployment(sub, rg, name, ep["name"], dep["name"], {"location": location, "sku": {"name": "Default", "capacity": 1},
                                                                             "properties": {
                "endpointComputeType": "Managed", "instanceType": dep.get("instanceType", m2.DEFAULT_INSTANCE_TYPE),
                "model": model_id,
                "environmentId": "azureml://registries/azureml/environments/sklearn-1.5/versions/1"}})
        backend.settle_all()
        if ep.get("traffic"):
            _, body, _ = backend.put_endpoint(sub, rg, name, ep["name"], {**backend.get_endpoint(sub, rg, name, ep["name"]), "properties": {
                **backend.get_endpoint(sub, rg, name, ep["name"])["properties"], "traffic": ep["traffic"]}})
            backend.settle_all()
        body = backend.get_endpoint(sub, rg, name, ep["name"])
        out["endpoints"].append({"id": body["id"], "scoringUri": body["properties"]["scoringUri"],
                                 "primaryKey": backend.list_keys(sub, rg, name, ep["name"])["primaryKey"],
                                 "deployments": [d["name"] for d in backend.list_deployments(sub, rg, name, ep["name"])]})
    return out


def _seed_mlv2_jobs(emu: Any, sub: str, rg: str, name: str, ws: dict[str, Any]) -> dict[str, str]:
    """Files on the default datastore (Azurite, or the emulator's state without storage), then jobs
    run to their end; returns each job's status."""
    import sys

    from .mlv2_jobs import DEFAULT_DATASTORE, JobError

    jobs = emu.mlv2_jobs.backend
    container = jobs.container_of(emu.mlv2.backend.workspace(sub, rg, name), DEFAULT_DATASTORE)
    for path, text in (ws.get("data") or {}).items():
        try:
            jobs.files.write(container, path, text.encode("utf-8"))
        except JobError as exc:
            sys.stderr.write(f"amlws emulator: seed data {path} not written: {exc}\n")
    statuses = {}
    for job in ws.get("jobs") or []:
        jobs.put_job(sub, rg, name, job["name"], {"properties": job["properties"]})
        doc = jobs.settle(jobs.job_key(sub, rg, name, job["name"]))
        statuses[job["name"]] = doc["status"] if doc else "Unknown"
    return statuses


def _seed_arm_service(emu: Any, svc: dict[str, Any], seed: dict[str, Any]) -> dict[str, Any]:
    sub, rg, name = svc["subscription"], svc["resourceGroup"], svc["name"]
    emu.arm.backend.add_subscription(sub, [rg])
    keys = svc.get("keys") or {"primary": new_key(), "secondary": new_key()}
    service_id = hex_id()
    now = iso()
    title = svc.get("title", name)
    assets: dict[str, Any] = {"asset1": {"name": "Import Data", "type": "Module",
                                         "locationInfo": {"uri": "aml://module/506153734175476c4f62416c57734963.4e1b0fe6aded4b3fa36f39b8862b9004.v1-default-1743", "credentials": ""}}}
    nodes: dict[str, Any] = {"node1": {"inputId": "input1"}, "node2": {"assetId": "asset1", "parameters": {}}}
    edges = [{"sourceNodeId": "node1", "targetNodeId": "node2", "targetPortId": "Dataset1"}]
    features = (svc.get("training") or svc.get("model") or {}).get("features") or list((svc.get("model") or {}).get("coefficients") or [])
    if svc.get("model"):
        loc = _model_location(emu, svc["model"], svc.get("storageConnectionString") or seed.get("storageConnectionString")) or {}
        assets["asset2"] = {"name": svc.get("resourceName") or f"{title} [trained model]", "type": "Resource",
                            "locationInfo": {"uri": loc["BaseLocation"] + loc["RelativeLocation"]},
                            "outputPorts": {"Results dataset": {"type": "Dataset"}}}
        nodes["node3"] = {"assetId": "asset2", "parameters": {}}
        edges.append({"sourceNodeId": "node3", "targetNodeId": "node2", "targetPortId": "Dataset2"})
    nodes["node4"] = {"outputId": "output1"}
    edges.append({"sourceNodeId": "node2", "sourcePortId": "Results dataset", "targetNodeId": "node4"})
    columns = {f: {"type": "Number", "format": "Double", "x-ms-isnullable": False} for f in features}
    props = {
        "title": title, "description": svc.get("description", f"{title} (amlws emulator seed)"),
        "createdOn": now, "modifiedOn": now, "provisioningState": "Succeeded", "keys": keys, "readOnly": False,
        "swaggerLocation": f"{emu.base_url}/subscriptions/{sub.replace('-', '')}/services/{service_id}/swagger.json",
        "exposeSampleData": True, "realtimeConfiguration": {"maxConcurrentCalls": 20}, "diagnostics": {"level": "None"},
        "storageAccount": _storage_account(svc.get("storageConnectionString") or seed.get("storageConnectionString")),
        "machineLearningWorkspace": {"id": svc.get("workspace") or hex_id()},
        "commitmentPlan": {"id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearning/commitmentPlans/{rg}-plan"},
        "input": {"title": "", "description": "", "type": "object",
                  "properties": {"input1": {"title": "", "description": "", "type": "object", "properties": copy.deepcopy(columns)}}},
        "output": {"title": "", "description": "", "type": "object",
                   "properties": {"output1": {"title": "", "description": "", "type": "object",
                                              "properties": {**copy.deepcopy(columns), "Scored Labels": {"type": "Number", "format": "Double"}}}}},
        "exampleRequest": {"inputs": {"input1": [[1.0 for _ in features]]}, "globalParameters": {}},
        "assets": assets, "parameters": {}, "payloadsInBlobStorage": False, "packageType": "Graph",
        "package": {"nodes": nodes, "edges": edges, "graphParameters": {}},
    }
    resource = {"id": resource_id(sub, rg, name), "name": name, "type": RESOURCE_TYPE, "location": svc.get("location", "South Central US"),
                "tags": svc.get("tags") or {}, "properties": props}
    doc = {"serviceId": service_id, "regions": [], "deleted": False, "resource": resource, "operation": None,
           "emulator": {"training": svc.get("training"), "storageConnectionString": svc.get("storageConnectionString") or seed.get("storageConnectionString")}}
    emu.store.put(SERVICE, resource["id"].lower(), doc)
    return {"id": resource["id"], "apiLocation": f"{emu.base_url}/subscriptions/{sub.replace('-', '')}/services/{service_id}",
            "primaryKey": keys["primary"], "training": bool(svc.get("training"))}


def describe(emu: Any) -> dict[str, Any]:
    """What the emulator holds, in the seed summary's shape (management URLs, ApiLocations, keys)."""
    base = emu.base_url
    classic = emu.classic.backend
    out: dict[str, Any] = {"workspaces": [], "armServices": []}
    for ws in emu.store.list("classic_workspace"):
        services = []
        for svc in emu.store.list("classic_service", ws["id"].lower() + "/"):
            eps = classic.list_endpoints(ws["id"], svc["Id"])
            services.append({"id": svc["Id"], "name": svc["Name"], "kind": svc["emulator"]["kind"], "endpoints": [
                {"name": e["Name"], "apiLocation": e["ApiLocation"], "primaryKey": e["PrimaryKey"],
                 "managementUrl": f"{base}/workspaces/{ws['id']}/webservices/{svc['Id']}/endpoints/{e['Name']}"} for e in eps]})
        out["workspaces"].append({"id": ws["id"], "token": ws["tokens"][0], "services": services})
    for doc in emu.store.list(SERVICE):
        r = doc["resource"]
        sub = r["id"].split("/")[2]
        out["armServices"].append({"id": r["id"], "apiLocation": f"{base}/subscriptions/{sub.replace('-', '')}/services/{doc['serviceId']}",
                                   "primaryKey": (r["properties"].get("keys") or {}).get("primary"),
                                   "training": bool((doc.get("emulator") or {}).get("training"))})
    mlv2 = emu.mlv2.backend
    for ws in emu.store.list("mlv2_workspace"):
        parts = ws["id"].split("/")
        sub, rg, name = parts[2], parts[4], parts[8]
        eps = mlv2.list_endpoints(sub, rg, name)
        out.setdefault("mlv2Workspaces", []).append({"id": ws["id"], "endpoints": [
            {"id": e["id"], "scoringUri": e["properties"]["scoringUri"],
             "deployments": [d["name"] for d in mlv2.list_deployments(sub, rg, name, e["name"])]} for e in eps]})
    return out


def _storage_account(cs: str | None) -> dict[str, str]:
    """The ARM service's storage account: the seed's storage (Azurite) when known, so that asset
    URIs without a SAS can be read with its key, as the real service reads its own account."""
    from .blobs import parse_connection_string

    parsed = parse_connection_string(cs or "")
    if parsed.get("AccountName") and parsed.get("AccountKey"):
        return {"name": parsed["AccountName"], "key": parsed["AccountKey"]}
    # no key of its own: blobs without a SAS are read with the emulator's default storage at the
    # time (an invented key here would outlive a restart with storage and break every read)
    return {"name": "devstoreaccount1"}


def client_env(server: Any) -> dict[str, str]:
    """What ``amlws emulator start|serve|status`` print: every variable the walkthroughs in the
    README and docs/ use against the emulator (tests/e2e/test_emulator_env.py checks the docs).

    The demo credentials only when the demo seed is loaded; the storage only when one is configured.
    """
    env = {
        "AMLWS_ARM_ENDPOINT": server.url,
        "AMLWS_CLASSIC_ENDPOINT": server.url,
        "AMLWS_CA_BUNDLE": str(server.ca_path) if server.ca_path else "",
    }
    emu = server.emulator
    demo = emu is not None and DEMO_ARM_TOKEN in emu.arm_tokens()
    if demo:
        env.update({
            "AMLWS_ARM_TOKEN": DEMO_ARM_TOKEN,
            "AMLWS_WORKSPACE_TOKEN": DEMO_WORKSPACE_TOKEN,
            "AMLWS_API_KEY": DEMO_API_KEY,  # the training services' key (BES), also every demo endpoint's
            "AMLWS_SCORING_API_KEY": DEMO_API_KEY,  # the predictive endpoints' key (retrain --smoke-input)
            "AMLWS_SUBSCRIPTION": DEMO_SUBSCRIPTION,
            "AMLWS_RESOURCE_GROUP": DEMO_RESOURCE_GROUP,
            "AMLWS_TENANT": DEMO_TENANT,
            "AMLWS_WORKSPACE": DEMO_WORKSPACE,
            "AMLWS_LOCATION": "South Central US",
        })
    cs = emu.setting("storage_connection_string") if emu is not None else None
    if cs:
        env["AMLWS_STORAGE_CONNECTION_STRING"] = cs
    return env
