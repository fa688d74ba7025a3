"""Azure ML v2 command jobs and datastores, run for real by the emulator's built-in trainer.

Ground truth: ``tests/data/specs/mlv2/REFERENCE.md`` §2.4, §2.6, §5.5, §5.7, §8, §9, §15.

* **Datastores** are derived from the workspace: ``workspaceblobstore`` (the default, container
  ``azureml-blobstore-<workspaceId>``) and ``workspaceartifactstore`` (container ``azureml``), both on
  the emulator's storage account (``storage_connection_string``: Azurite). Without one configured,
  the datastores keep their files in the emulator's own state (seeded data and job outputs work;
  clients cannot upload).
* **Jobs** (``jobType: Command``) are synchronous PUTs; their status moves NotStarted → Queued →
  Running → Completed/Failed on the ops clock (transition ``mlv2_job``), or CancelRequested →
  Canceled after ``cancel``. A job whose ``command`` runs :data:`TRAINER_MODULE` trains the small
  model of :mod:`mlmodel` on its CSV input when it completes, writes ``model.ilearner`` to its model
  output and logs the evaluation as MLflow metrics (:mod:`mlv2_mlflow` serves them). Any other
  command fails: the emulator runs no user code.
* ``azureml://`` URIs (datastore paths, long form, job outputs) resolve here, for job inputs and for
  the model versions a deployment loads.
"""

from __future__ import annotations

import base64
import copy
import re
import shlex
import time
import uuid
from typing import Any

from .arm_models import transition_progress
from .core import Request, Response
from .exceptions import arm_error
from .mlv2_models import PROVIDER, _system_data, iso_ms, not_found, user_error, workspace_id
from .mlv2_routes import _W

JOB = "mlv2_job"
FILE = "mlv2_file"  # datastore files kept in the state when no storage is configured
JOB_TYPE = f"{PROVIDER}/workspaces/jobs"
DATASTORE_TYPE = f"{PROVIDER}/workspaces/datastores"
DEFAULT_DATASTORE = "workspaceblobstore"
ARTIFACT_DATASTORE = "workspaceartifactstore"

#: the built-in trainer: ``python -m amlws_emulator.train --data ${{inputs.NAME}} --model ${{outputs.NAME}}
#: [--label COLUMN] [--features A,B] [--algorithm linear|logistic]``
TRAINER_MODULE = "amlws_emulator.train"
TRAINER_COMMAND = "python -m amlws_emulator.train --data ${{inputs.train}} --label rentals --model ${{outputs.model}}"
MODEL_FILE = "model.ilearner"

#: Studio's Evaluate Model names (mlmodel.py) -> the MLflow metric keys the trainer logs
METRIC_KEYS = {
    "Mean Absolute Error": "mae", "Root Mean Squared Error": "rmse", "Relative Absolute Error": "relative_absolute_error",
    "Relative Squared Error": "relative_squared_error", "Coefficient of Determination": "r2",
    "True Positive": "true_positives", "False Negative": "false_negatives", "False Positive": "false_positives",
    "True Negative": "true_negatives", "Accuracy": "accuracy", "Precision": "precision", "Recall": "recall",
    "F-Score": "f1_score", "AUC": "auc", "Average Log Loss": "log_loss", "Training Log Loss": "training_log_loss",
}
JOB_STATUSES = ("NotStarted", "Starting", "Provisioning", "Preparing", "Queued", "Running", "Finalizing", "CancelRequested",
                "Completed", "Failed", "Canceled", "NotResponding", "Paused", "Unknown")
TERMINAL = ("Completed", "Failed", "Canceled")
INPUT_TYPES = ("literal", "uri_file", "uri_folder", "mltable", "custom_model", "mlflow_model", "triton_model")
OUTPUT_TYPES = ("uri_file", "uri_folder", "mltable", "custom_model", "mlflow_model", "triton_model")
#: what a Command job stores (MFE ``ResourceBase``, ``JobBase``, ``CommandJob``); other keys of a PUT are
#: dropped (e.g. the example's ``parentJobName``, REFERENCE §13). UNVERIFIED: whether the service drops them too.
COMMAND_JOB_FIELDS = ("description", "properties", "tags", "componentId", "computeId", "displayName", "experimentName",
                      "identity", "isArchived", "jobType", "notificationSetting", "services", "status", "codeId", "command",
                      "distribution", "environmentId", "environmentVariables", "inputs", "limits", "outputs", "parameters",
                      "queueSettings", "resources")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")
_REF = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_\-]+)\s*\}\}")
_DATASTORE_URI = re.compile(r"^azureml://(?:subscriptions/([^/]+)/resource[gG]roups/([^/]+)/(?:providers/Microsoft\.MachineLearningServices/)?"
                            r"workspaces/([^/]+)/)?datastores/([^/]+)/paths/(.*)$", re.IGNORECASE)
_JOB_URI = re.compile(r"^azureml://jobs/([^/]+)/outputs/([^/]+)/paths/(.*)$", re.IGNORECASE)


class JobError(Exception):
    """Why a job fails: ``(code, message)``, shown in the job's log and its MLflow run."""

    def __init__(self, message: str, code: str = "UserError") -> None:
        super().__init__(message)
        self.code, self.message = code, message


# --- storage behind the datastores ---------------------------------------------------------------


class DatastoreFiles:
    """Files of the workspace datastores: in the emulator's storage account when one is configured
    (Azurite), else in the emulator's state."""

    def __init__(self, emulator: Any) -> None:
        self.emu = emulator

    def connection_string(self) -> str | None:
        return self.emu.setting("storage_connection_string") or None

    def account(self) -> str:
        from .blobs import parse_connection_string

        return parse_connection_string(self.connection_string() or "").get("AccountName") or "devstoreaccount1"

    def read(self, container: str, path: str) -> bytes:
        from . import blobs

        cs = self.connection_string()
        if cs:
            try:
                return blobs.read_blob({"ConnectionString": cs, "RelativeLocation": f"{container}/{path}"})
            except blobs.BlobError as exc:
                raise JobError(str(exc)) from None
        doc = self.emu.store.get(FILE, f"{container}/{path}")
        if doc is None:
            raise JobError(f"cannot read blob {container}/{path}: BlobNotFound")
        return base64.b64decode(doc["data"])

    def write(self, container: str, path: str, data: bytes) -> None:
        from . import blobs

        cs = self.connection_string()
        if cs:
            try:
                blobs.write_blob({"ConnectionString": cs, "RelativeLocation": f"{container}/{path}"}, data)
            except blobs.BlobError as exc:
                raise JobError(str(exc)) from None
            return
        self.emu.store.put(FILE, f"{container}/{path}", {"data": base64.b64encode(data).decode("ascii")})

    def list(self, container: str, prefix: str) -> list[str]:
        from . import blobs

        cs = self.connection_string()
        if cs:
            try:
                return blobs.list_blobs(cs, container, prefix)
            except blobs.BlobError as exc:
                raise JobError(str(exc)) from None
        start = f"{container}/{prefix}"
        return sorted(k[len(container) + 1:] for k in self.emu.store.keys(FILE) if k.startswith(start))


# --- the backend ------------------------------------------------------------------------------------


class JobsBackend:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.store = emulator.store
        self.files = DatastoreFiles(emulator)

    # --- datastores ----------------------------------------------------------------------------
    def _ws(self, sub: str, rg: str, ws: str) -> dict[str, Any]:
        return self.emu.mlv2.backend.workspace(sub, rg, ws)  # 404 ResourceNotFound for an unknown workspace

    def container_of(self, ws_doc: dict[str, Any], datastore: str) -> str:
        if datastore == DEFAULT_DATASTORE:
            return f"azureml-blobstore-{ws_doc['workspaceId']}"
        if datastore == ARTIFACT_DATASTORE:
            return "azureml"
        raise JobError(f"datastore '{datastore}' not found in workspace '{ws_doc['name']}' "
                       f"(datastores: {DEFAULT_DATASTORE}, {ARTIFACT_DATASTORE})", code="UserError")

    def datastore_body(self, sub: str, rg: str, ws: str, name: str) -> dict[str, Any]:
        doc = self._ws(sub, rg, ws)
        try:
            container = self.container_of(doc, name)
        except JobError:
            raise not_found(DATASTORE_TYPE, f"{ws}/datastores/{name}", rg) from None
        default = name == DEFAULT_DATASTORE
        return {
            "id": f"{workspace_id(sub, rg, ws)}/datastores/{name}", "name": name, "type": DATASTORE_TYPE,
            "properties": {
                "description": "The workspace's default blob store" if default else "The workspace's artifact store",
                "tags": {}, "isDefault": default, "properties": {},
                "credentials": {"credentialsType": "AccountKey", "secrets": {"secretsType": "AccountKey"}},
                "datastoreType": "AzureBlob", "accountName": self.files.account(), "containerName": container,
                "endpoint": "core.windows.net", "protocol": "https", "serviceDataAccessAuthIdentity": "None",
                "subscriptionId": sub, "resourceGroup": rg,
            },
            "systemData": _system_data(doc["created"], doc["created"]),
        }

    def list_datastores(self, sub: str, rg: str, ws: str, query: dict[str, str]) -> list[dict[str, Any]]:
        items = [self.datastore_body(sub, rg, ws, n) for n in (DEFAULT_DATASTORE, ARTIFACT_DATASTORE)]
        flag = (query.get("isDefault") or "").lower()
        if flag in ("true", "false"):
            items = [d for d in items if d["properties"]["isDefault"] == (flag == "true")]
        names = [v for k, v in query.items() if k.startswith("names")]
        if names:
            wanted = {n for v in names for n in v.split(",")}
            items = [d for d in items if d["name"] in wanted]
        return items

    def datastore_secrets(self, sub: str, rg: str, ws: str, name: str) -> dict[str, Any]:
        from .blobs import parse_connection_string

        self.datastore_body(sub, rg, ws, name)
        key = parse_connection_string(self.files.connection_string() or "").get("AccountKey")
        if not key:
            raise user_error("NoStorageKey", "The emulator has no storage account key (no storage connection string is configured).")
        return {"secretsType": "AccountKey", "key": key}

    # --- URIs ------------------------------------------------------------------------------------
    def locate(self, uri: str, sub: str, rg: str, ws: str) -> tuple[str, str]:
        """``(container, path)`` of an ``azureml://`` datastore or job-output URI, or of a blob URL
        on the emulator's storage account (``https://ACCOUNT.blob.core.windows.net/C/P`` or Azurite's)."""
        m = _DATASTORE_URI.match(uri)
        if m:
            s, r, w, store, path = m.groups()
            if w and (s.lower(), r.lower(), w.lower()) != (sub.lower(), rg.lower(), ws.lower()):
                raise JobError(f"{uri} names another workspace ({w}); the emulator reads the job's own datastores")
            return self.container_of(self._ws(sub, rg, ws), store), path
        m = _JOB_URI.match(uri)
        if m:
            job, output, path = m.groups()
            doc = self.store.get(JOB, self.job_key(sub, rg, ws, job))
            if doc is None:
                raise JobError(f"job '{job}' of {uri} not found in workspace '{ws}'")
            if doc["status"] != "Completed":
                raise JobError(f"job '{job}' of {uri} is {doc['status']}, not Completed: its outputs do not exist")
            out = (doc["resource"]["properties"].get("outputs") or {}).get(output)
            if not out or not out.get("uri"):
                raise JobError(f"job '{job}' has no output '{output}' "
                               f"(outputs: {', '.join(sorted(doc['resource']['properties'].get('outputs') or {})) or 'none'})")
            container, base = self.locate(out["uri"], sub, rg, ws)
            return container, (base.rstrip("/") + "/" + path.lstrip("/")) if path else base
        if uri.lower().startswith(("https://", "http://")):
            from urllib.parse import unquote, urlsplit

            from .blobs import account_of

            parts = urlsplit(uri)
            account = self.files.account()
            segments = [unquote(p) for p in parts.path.split("/") if p]
            host_style = (parts.hostname or "").lower() == f"{account}.blob.core.windows.net".lower()
            if not host_style and account_of(uri) == account:
                segments = segments[1:]  # path-style (Azurite): /ACCOUNT/CONTAINER/PATH
            elif not host_style:
                raise JobError(f"{parts.scheme}://{parts.netloc}{parts.path} is not on the emulator's storage account "
                               f"'{account}'; give an azureml://datastores/{DEFAULT_DATASTORE}/paths/... URI")
            if len(segments) < 2 and not uri.endswith("/"):
                raise JobError(f"{uri.split('?')[0]} names no blob (expected CONTAINER/PATH)")
            return segments[0], "/".join(segments[1:]) + ("/" if uri.split("?")[0].endswith("/") and len(segments) > 1 else "")
        raise JobError(f"unsupported input URI {uri!r}: give azureml://datastores/NAME/paths/PATH, "
                       "azureml://jobs/JOB/outputs/NAME/paths/PATH or an https blob URL on the workspace's storage")

    def read_csv_input(self, uri: str, kind: str, sub: str, rg: str, ws: str) -> bytes:
        container, path = self.locate(uri, sub, rg, ws)
        if kind == "uri_file" and path and not path.endswith("/"):
            return self.files.read(container, path)
        prefix = path if not path or path.endswith("/") else path + "/"
        names = [n for n in self.files.list(container, prefix) if n.lower().endswith(".csv")]
        if not names:
            raise JobError(f"the folder {uri} holds no .csv file")
        header: bytes | None = None
        parts: list[bytes] = []
        for name in names:  # the folder's CSVs, in name order, under the first one's header
            lines = self.files.read(container, name).decode("utf-8-sig").encode("utf-8").splitlines(keepends=True)
            if not lines:
                continue
            if header is None:
                header = lines[0]
                parts.append(header if header.endswith(b"\n") else header + b"\n")
            elif lines[0].strip() != header.strip():
                raise JobError(f"{name} has another header than the folder's first CSV")
            parts.extend(line if line.endswith(b"\n") else line + b"\n" for line in lines[1:])
        return b"".join(parts)

    def load_model(self, uri: str, sub: str, rg: str, ws: str) -> dict[str, Any]:
        """The ``.ilearner`` an ``azureml://`` model URI names (a file, or the one in a folder):
        what a deployment of a registered job output serves. Raises :class:`JobError`."""
        from . import mlmodel

        container, path = self.locate(uri, sub, rg, ws)
        if path and not path.endswith("/") and not self.files.list(container, path + "/"):
            data = self.files.read(container, path)
        else:
            prefix = path if not path or path.endswith("/") else path + "/"
            names = [n for n in self.files.list(container, prefix) if n.endswith(".ilearner")]
            if len(names) != 1:
                raise JobError(f"the folder {uri} holds {len(names) or 'no'} .ilearner model files (expected one)")
            data = self.files.read(container, names[0])
        try:
            return mlmodel.loads(data)
        except mlmodel.ModelError as exc:
            raise JobError(str(exc)) from None

    # --- jobs --------------------------------------------------------------------------------------
    def job_key(self, sub: str, rg: str, ws: str, name: str) -> str:
        return f"{workspace_id(sub, rg, ws).lower()}/jobs/{name}"

    def public(self, doc: dict[str, Any]) -> dict[str, Any]:
        r = copy.deepcopy(doc["resource"])
        p = r["properties"]
        p["status"] = doc["status"]
        for svc in (p.get("services") or {}).values():
            if isinstance(svc, dict):
                svc["status"] = doc["status"]
                svc["errorMessage"] = (doc.get("error") or {}).get("message", "")
        if doc.get("error"):
            # UNVERIFIED: the real job resource has no error field (azure-ai-ml reads run history);
            # the emulator names the failure here and in the job's std_log.txt
            p.setdefault("properties", {})["amlws.emulator.error"] = f"{doc['error']['code']}: {doc['error']['message']}"
        return r

    def _validate(self, name: str, body: Any) -> dict[str, Any]:
        if not _NAME.match(name):
            raise user_error("InvalidJobName", f"Job name '{name}' must match ^[a-zA-Z0-9][a-zA-Z0-9\\-_]{{0,254}}$.")
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise arm_error(400, "InvalidRequestContent", "[Required] the request body must be a job with 'properties'.")
        props = copy.deepcopy(body["properties"])
        job_type = props.get("jobType")
        if not job_type:
            raise arm_error(400, "InvalidRequestContent", "[Required] properties.jobType is missing.")
        if job_type != "Command":
            raise user_error("JobTypeNotEmulated", f"The amlws emulator runs Command jobs only, not jobType {job_type!r}.",
                             target="properties.jobType")
        for field in ("command", "environmentId"):
            if not isinstance(props.get(field), str) or not props[field].strip():
                raise arm_error(400, "InvalidRequestContent", f"[Required] properties.{field} of a Command job is missing.")
        inputs = props.get("inputs") or {}
        outputs = props.get("outputs") or {}
        if not isinstance(inputs, dict) or not isinstance(outputs, dict):
            raise arm_error(400, "InvalidRequestContent", "properties.inputs and properties.outputs must be maps of name to input/output.")
        for key, value in inputs.items():
            kind = value.get("jobInputType") if isinstance(value, dict) else None
            if kind not in INPUT_TYPES:
                raise user_error("InvalidJobInput", f"Input '{key}': jobInputType must be one of {', '.join(INPUT_TYPES)}, not {kind!r}.",
                                 target=f"properties.inputs.{key}")
            if kind == "literal":
                if "value" not in value:
                    raise user_error("InvalidJobInput", f"Input '{key}': a literal input needs 'value'.", target=f"properties.inputs.{key}")
                continue
            uri = value.get("uri")
            if not isinstance(uri, str) or not uri.startswith(("azureml:", "https://", "http://", "runs:/")):
                raise user_error("InvalidJobInput", f"Input '{key}': uri must be an azureml:// URI or an https URL, not {uri!r}.",
                                 target=f"properties.inputs.{key}.uri")
        for key, value in outputs.items():
            kind = value.get("jobOutputType") if isinstance(value, dict) else None
            if kind not in OUTPUT_TYPES:
                raise user_error("InvalidJobOutput", f"Output '{key}': jobOutputType must be one of {', '.join(OUTPUT_TYPES)}, not {kind!r}.",
                                 target=f"properties.outputs.{key}")
            uri = value.get("uri")
            if uri is not None and not (isinstance(uri, str) and uri.startswith("azureml://")):
                raise user_error("InvalidJobOutput", f"Output '{key}': uri must be an azureml://datastores/NAME/paths/PATH URI or absent.",
                                 target=f"properties.outputs.{key}.uri")
        return props

    def put_job(self, sub: str, rg: str, ws: str, name: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Synchronous (§2.4): 201 with the job ``NotStarted``; a re-PUT replaces only its tags."""
        self.emu.mlv2.backend._parent(sub, rg, ws)
        key = self.job_key(sub, rg, ws, name)
        existing = self.store.get(JOB, key)
        if existing is not None:
            if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
                raise arm_error(400, "InvalidRequestContent", "[Required] the request body must be a job with 'properties'.")
            existing["resource"]["properties"]["tags"] = body["properties"].get("tags") or {}
            existing["resource"]["systemData"]["lastModifiedAt"] = iso_ms()
            self.store.put(JOB, key, existing)
            return 200, self.public(existing)
        props = {k: v for k, v in self._validate(name, body).items() if k in COMMAND_JOB_FIELDS and k != "status"}
        props.setdefault("experimentName", "Default")
        props.setdefault("displayName", name)
        props.setdefault("tags", {})
        props.setdefault("properties", {})
        props.setdefault("parameters", {})
        props.setdefault("identity", {"identityType": "AMLToken"})
        ws_doc = self._ws(sub, rg, ws)
        for out_name, out in (props.get("outputs") or {}).items():
            if not out.get("uri"):
                # the default location azure-ai-ml probes first (§9): azureml/<job>/<output>/ on the default datastore
                file = f"/{MODEL_FILE}" if out["jobOutputType"] == "uri_file" else "/"
                out["uri"] = f"azureml://datastores/{DEFAULT_DATASTORE}/paths/azureml/{name}/{out_name}{file}"
            out.setdefault("mode", "ReadWriteMount")
        now = iso_ms()
        fault = self.emu.take_fault("job_failure", api="mlv2", operation="Jobs_CreateOrUpdate", target={"job": name})
        doc: dict[str, Any] = {
            "key": key, "name": name, "workspace": [sub, rg, ws], "status": "NotStarted", "created": time.time(), "polls": 0,
            "kind": "job", "transition": self.emu.transition("mlv2_job"), "cancel": None, "error": None,
            "fault": ({"code": fault.get("code") or "UserError",
                       "message": fault.get("message") or "Execution failed (injected by the emulator)."} if fault else None),
            "run": {"experimentId": str(uuid.uuid5(uuid.NAMESPACE_URL, ws_doc["id"].lower() + "/experiments/" + props["experimentName"])),
                    "startTime": int(time.time() * 1000), "endTime": None, "metrics": [], "params": [], "tags": []},
            "resource": {"id": f"{workspace_id(sub, rg, ws)}/jobs/{name}", "name": name, "type": JOB_TYPE,
                         "properties": props, "systemData": _system_data(now, now)},
        }
        self.store.put(JOB, key, doc)
        if doc["transition"].get("mode") == "immediate":
            doc = self.advance(key, polled=False) or doc
        return 201, self.public(doc)

    def job(self, sub: str, rg: str, ws: str, name: str, *, observe: bool = True) -> dict[str, Any]:
        self._ws(sub, rg, ws)
        key = self.job_key(sub, rg, ws, name)
        doc = self.advance(key, polled=observe) if observe else self.store.get(JOB, key)
        if doc is None:
            raise not_found(JOB_TYPE, f"{ws}/jobs/{name}", rg)
        return doc

    def list_jobs(self, sub: str, rg: str, ws: str) -> list[dict[str, Any]]:
        self._ws(sub, rg, ws)
        prefix = workspace_id(sub, rg, ws).lower() + "/jobs/"
        for key in [d["key"] for d in self.store.list(JOB, prefix)]:
            self.advance(key, polled=False)
        docs = self.store.list(JOB, prefix)
        docs.sort(key=lambda d: d["created"], reverse=True)
        return [self.public(d) for d in docs]

    def cancel(self, sub: str, rg: str, ws: str, name: str) -> bool:
        """True when the job was running (202: it moves through CancelRequested to Canceled)."""
        doc = self.job(sub, rg, ws, name, observe=False)
        doc = self.advance(doc["key"], polled=False) or doc
        if doc["status"] in TERMINAL or doc.get("cancel"):
            return False
        doc["cancel"] = {"created": time.time(), "polls": 0, "kind": "cancel", "transition": doc["transition"]}
        doc["status"] = "CancelRequested"
        self.store.put(JOB, doc["key"], doc)
        if doc["transition"].get("mode") == "immediate":
            self.advance(doc["key"], polled=False)
        return True

    def delete_job(self, sub: str, rg: str, ws: str, name: str) -> bool:
        self._ws(sub, rg, ws)
        return self.store.delete(JOB, self.job_key(sub, rg, ws, name))

    def settle(self, key: str) -> dict[str, Any] | None:
        """Finish a job now, whatever its clock (seeded jobs are complete)."""
        with self.store.lock:
            doc = self.store.get(JOB, key)
            if doc is not None and doc["status"] not in TERMINAL:
                doc["transition"] = {"mode": "immediate"}
                self.store.put(JOB, key, doc)
        return self.advance(key, polled=False)

    def advance(self, key: str, *, polled: bool) -> dict[str, Any] | None:
        with self.store.lock:
            doc = self.store.get(JOB, key)
            if doc is None or doc["status"] in TERMINAL:
                return doc
            now = time.time()
            if doc.get("cancel"):
                c = doc["cancel"]
                if polled:
                    c["polls"] += 1
                if transition_progress(c, now)[0]:
                    doc["status"] = "Canceled"
                    doc["run"]["endTime"] = int(now * 1000)
                    self._log(doc, ["Cancel requested: the job was stopped.", "Job Canceled."])
            else:
                if polled:
                    doc["polls"] += 1
                done, progress = transition_progress(doc, now)
                if done:
                    self._run(doc)
                else:
                    doc["status"] = "Queued" if progress < 0.34 else "Running"
            self.store.put(JOB, key, doc)
            return doc

    # --- the built-in trainer --------------------------------------------------------------------------
    def _run(self, doc: dict[str, Any]) -> None:
        """Run the job to its end: the trainer's work, or the failure that stops it."""
        from . import mlmodel

        sub, rg, ws = doc["workspace"]
        props = doc["resource"]["properties"]
        log = [f"Job {doc['name']}: {props['command']}"]
        try:
            if doc.get("fault"):
                raise JobError(doc["fault"]["message"], code=doc["fault"]["code"])
            args = self._trainer_args(props)
            inp = (props.get("inputs") or {})[args["data"]]
            log.append(f"Reading input '{args['data']}' ({inp['jobInputType']}) from {inp['uri']}")
            data = self.read_csv_input(inp["uri"], inp["jobInputType"], sub, rg, ws)
            try:
                model, metrics = mlmodel.train(data, label=args["label"] or _last_column(data), features=args["features"],
                                               algorithm=args["algorithm"], regression_accuracy=True)
            except mlmodel.ModelError as exc:
                raise JobError(f"training failed: {exc}") from None
            out = props["outputs"][args["model"]]
            container, path = self.locate(out["uri"], sub, rg, ws)
            target = path if out["jobOutputType"] == "uri_file" else path.rstrip("/") + "/" + MODEL_FILE
            self.files.write(container, target.lstrip("/"), mlmodel.dumps(model))
            log.append(f"Trained {model['algorithm']} of {model['label']} on {model['trainingRows']} rows; "
                       f"wrote {out['uri'].rstrip('/')}{'' if out['jobOutputType'] == 'uri_file' else '/' + MODEL_FILE}")
            stamp = int(time.time() * 1000)
            doc["run"]["metrics"] = [{"key": METRIC_KEYS.get(k, k), "value": float(v), "timestamp": stamp, "step": 0}
                                     for k, v in metrics.items()]
            doc["run"]["params"] = [{"key": "label", "value": model["label"]}, {"key": "features", "value": ",".join(model["features"])},
                                    {"key": "algorithm", "value": model["algorithm"]},
                                    {"key": "training_rows", "value": str(model["trainingRows"])}]
            log += [f"metric {m['key']} = {m['value']:.6g}" for m in doc["run"]["metrics"]]
            doc["status"] = "Completed"
            log.append("Job Completed.")
        except JobError as exc:
            doc["status"] = "Failed"
            doc["error"] = {"code": exc.code, "message": exc.message}
            log.append(f"Error: {exc.code}: {exc.message}")
            log.append("Job Failed.")
        doc["run"]["endTime"] = int(time.time() * 1000)
        doc["run"]["tags"] = [{"key": "mlflow.runName", "value": props.get("displayName") or doc["name"]},
                              {"key": "mlflow.user", "value": "amlws emulator"},
                              {"key": "azureml.jobType", "value": "Command"}]
        self._log(doc, log)

    def _trainer_args(self, props: dict[str, Any]) -> dict[str, Any]:
        """The trainer's options from the job's command (``${{inputs.X}}`` of a literal input is its value)."""
        command = props["command"]
        inputs, outputs = props.get("inputs") or {}, props.get("outputs") or {}
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise JobError(f"the command cannot be parsed: {exc}") from None
        if TRAINER_MODULE not in words:
            raise JobError(f"the amlws emulator runs no user code: its jobs run the built-in trainer only "
                           f"(command: {TRAINER_COMMAND})", code="UserError")
        opts: dict[str, Any] = {"data": None, "model": None, "label": None, "features": None, "algorithm": "linear"}
        rest = words[words.index(TRAINER_MODULE) + 1:]
        i = 0
        while i < len(rest):
            flag = rest[i]
            name = flag[2:] if flag.startswith("--") else ""
            if name not in opts or i + 1 >= len(rest):
                raise JobError(f"amlws_emulator.train: unrecognized or incomplete argument {flag!r} "
                               "(options: --data, --model, --label, --features, --algorithm)")
            opts[name] = rest[i + 1]
            i += 2
        for name, kind, table in (("data", "inputs", inputs), ("model", "outputs", outputs)):
            m = _REF.fullmatch(opts[name] or "")
            if not m or m.group(1) != kind:
                raise JobError(f"amlws_emulator.train: --{name} must be ${{{{{kind}.NAME}}}}, not {opts[name]!r}")
            if m.group(2) not in table:
                raise JobError(f"the command names {kind}.{m.group(2)}, which the job does not define")
            opts[name] = m.group(2)
        if inputs[opts["data"]]["jobInputType"] not in ("uri_file", "uri_folder", "mltable"):
            raise JobError(f"input '{opts['data']}' must be uri_file or uri_folder (a CSV file or a folder of CSVs)")
        for name in ("label", "features", "algorithm"):
            value = opts[name]
            m = _REF.fullmatch(value or "")
            if m:
                ref = inputs.get(m.group(2)) if m.group(1) == "inputs" else None
                if not ref or ref.get("jobInputType") != "literal":
                    raise JobError(f"--{name} {value}: only a literal input can be passed as a value")
                opts[name] = str(ref["value"])
        if opts["algorithm"] not in ("linear", "logistic"):
            raise JobError(f"--algorithm must be linear or logistic, not {opts['algorithm']!r}")
        if opts["features"]:
            opts["features"] = [f.strip() for f in opts["features"].split(",") if f.strip()]
        return opts

    def log_uri(self, doc: dict[str, Any]) -> str:
        return f"azureml://datastores/{ARTIFACT_DATASTORE}/paths/ExperimentRun/dcid.{doc['name']}/user_logs/std_log.txt"

    def _log(self, doc: dict[str, Any], lines: list[str]) -> None:
        """The job's ``user_logs/std_log.txt`` in the artifact store (best effort: a job's end never fails on it)."""
        ws_doc = self.store.get("mlv2_workspace", workspace_id(*doc["workspace"]).lower())
        if ws_doc is None:
            return
        text = "".join(f"{iso_ms()} {line}\n" for line in lines)
        try:
            self.files.write(self.container_of(ws_doc, ARTIFACT_DATASTORE), f"ExperimentRun/dcid.{doc['name']}/user_logs/std_log.txt",
                             text.encode("utf-8"))
        except JobError:
            pass


def _last_column(data: bytes) -> str:
    from . import mlmodel

    try:
        header, _ = mlmodel.read_csv(data)
    except mlmodel.ModelError as exc:
        raise JobError(f"training failed: {exc}") from None
    return header[-1]


# --- HTTP ---------------------------------------------------------------------------------------------


class Mlv2JobsResponses:
    """Jobs and datastores over ARM: auth, api-version and paging as the rest of the v2 API."""

    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.backend = JobsBackend(emulator)

    def _ws(self, req: Request) -> tuple[str, str, str]:
        p = req.params
        return p["sub"], p["rg"], p["ws"]

    def list_datastores(self, req: Request) -> Response:
        version = self.emu.mlv2._check(req)
        items = self.backend.list_datastores(*self._ws(req), req.query)
        return Response(200, self.emu.mlv2._page(req, items, version))

    def get_datastore(self, req: Request) -> Response:
        self.emu.mlv2._check(req)
        return Response(200, self.backend.datastore_body(*self._ws(req), req.params["datastore"]))

    def list_secrets(self, req: Request) -> Response:
        self.emu.mlv2._check(req)
        return Response(200, self.backend.datastore_secrets(*self._ws(req), req.params["datastore"]))

    def list_jobs(self, req: Request) -> Response:
        version = self.emu.mlv2._check(req)
        return Response(200, self.emu.mlv2._page(req, self.backend.list_jobs(*self._ws(req)), version))

    def get_job(self, req: Request) -> Response:
        self.emu.mlv2._check(req)
        return Response(200, self.backend.public(self.backend.job(*self._ws(req), req.params["job"])))

    def put_job(self, req: Request) -> Response:
        self.emu.mlv2._check(req)
        status, body = self.backend.put_job(*self._ws(req), req.params["job"], self.emu.mlv2._body(req))
        return Response(status, body)

    def cancel_job(self, req: Request) -> Response:
        """202 + ``Location`` (the job, §2.4) while it runs; 200 + ``Location`` when it has ended already."""
        version = self.emu.mlv2._check(req)
        running = self.backend.cancel(*self._ws(req), req.params["job"])
        location = f"{self.emu.base_url}{req.path.rsplit('/cancel', 1)[0]}?api-version={version}"
        return Response(202 if running else 200, None, {"Location": location})

    def delete_job(self, req: Request) -> Response:
        self.emu.mlv2._check(req)
        return Response(200 if self.backend.delete_job(*self._ws(req), req.params["job"]) else 204)


#: (method, path regex, handler, operationId); registered before mlv2_routes (whose last route catches all)
ROUTES = [
    ("GET", _W + "/datastores/?$", "list_datastores", "Datastores_List"),
    ("GET", _W + "/datastores/(?P<datastore>[^/]+)$", "get_datastore", "Datastores_Get"),
    ("POST", _W + "/datastores/(?P<datastore>[^/]+)/listSecrets$", "list_secrets", "Datastores_ListSecrets"),
    ("GET", _W + "/jobs/?$", "list_jobs", "Jobs_List"),
    ("GET", _W + "/jobs/(?P<job>[^/]+)$", "get_job", "Jobs_Get"),
    ("PUT", _W + "/jobs/(?P<job>[^/]+)$", "put_job", "Jobs_CreateOrUpdate"),
    ("DELETE", _W + "/jobs/(?P<job>[^/]+)$", "delete_job", "Jobs_Delete"),
    ("POST", _W + "/jobs/(?P<job>[^/]+)/cancel$", "cancel_job", "Jobs_Cancel"),
]

