"""BES jobs and RRS scoring for classic endpoints and ARM services (classic REFERENCE §4-5).

A job on a *training* service reads ``input1`` from Azure Storage, trains the service's model
(:mod:`.mlmodel`), and writes the ``.ilearner`` and an Evaluate Model CSV. A job on a
*predictive* service batch-scores ``input1`` into a CSV. Jobs run in a background thread;
what a status GET shows follows the configured transition (immediate / seconds / polls).
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from . import blobs, mlmodel
from .core import hex_id, iso
from .exceptions import classic_error

JOB = "bes_job"
MODEL = "model"
INTERNAL_PREFIX = "aml://trainedmodel/"
STATUS_CODES = {"NotStarted": 0, "Running": 1, "Failed": 2, "Cancelled": 3, "Finished": 4}
TERMINAL = ("Failed", "Cancelled", "Finished")
DATASET_EXTENSIONS = (".csv", ".tsv", ".arff")


class Target:
    """What an ApiLocation resolves to: keys, training recipe, current model, default storage."""

    def __init__(self, *, kind: str, scope: str, keys: list[str], training: dict[str, Any] | None,
                 model_ref: dict[str, Any] | None, storage: str | None, name: str,
                 accounts: dict[str, str] | None = None) -> None:
        self.kind, self.scope, self.keys, self.training = kind, scope, keys, training
        self.model_ref, self.storage, self.name = model_ref, storage, name
        #: storage account name -> key the service can read model URLs without a SAS with
        self.accounts = accounts or {}


class BesBackend:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        self.store = emulator.store
        self.threads: list[threading.Thread] = []

    # --- models -------------------------------------------------------------------------------
    def put_internal_model(self, model: dict[str, Any], model_id: str | None = None) -> dict[str, Any]:
        model_id = model_id or hex_id()
        self.store.put(MODEL, model_id, model)
        return {"BaseLocation": INTERNAL_PREFIX, "RelativeLocation": f"{model_id}.ilearner", "SasBlobToken": ""}

    def load_model(self, ref: dict[str, Any], accounts: dict[str, str] | None = None) -> dict[str, Any]:
        """``ref`` is a classic Location or ``{"uri": ..., "credentials": ...}`` (ARM asset).

        A URL without a SAS is read with the key of its storage account when the service knows it
        (``accounts``), as the real service reads its own storage account.
        """
        if "uri" in ref:
            uri = ref.get("uri") or ""
            cred = ref.get("credentials") or ""
            if uri.startswith(INTERNAL_PREFIX):
                return self._internal(uri[len(INTERNAL_PREFIX):])
            url = uri if "?" in uri or not cred.startswith("?") else uri + cred
        else:
            base = ref.get("BaseLocation") or ""
            if base.startswith(INTERNAL_PREFIX):
                return self._internal(ref.get("RelativeLocation") or "")
            url = blobs.join_url(base, ref.get("RelativeLocation") or "", ref.get("SasBlobToken"))
        all_accounts = {**blobs.accounts_from(self.emu.setting("storage_connection_string")), **(accounts or {})}
        return mlmodel.loads(blobs.read_url(url, all_accounts))

    def _internal(self, name: str) -> dict[str, Any]:
        model = self.store.get(MODEL, name.removesuffix(".ilearner"))
        if model is None:
            raise blobs.BlobError(f"trained model {name} not found")
        return model

    # --- jobs ---------------------------------------------------------------------------------------
    def _outputs_spec(self, target: Target) -> dict[str, tuple[str, ...]]:
        if target.training:
            t = target.training
            return {t.get("modelOutput", "output1"): (".ilearner",), t.get("evaluationOutput", "output2"): DATASET_EXTENSIONS}
        return {"output1": DATASET_EXTENSIONS}

    def submit(self, target: Target, body: Any) -> str:
        if not isinstance(body, dict):
            raise classic_error(400, "RequestBodyInvalid", "The request body must be a BatchExecutionRequest JSON object.")
        if "Input" in body and "Inputs" in body:
            raise classic_error(400, "DuplicateInputInBatchCall", "Cannot specify both single and multiple input at the same time")
        inputs = body.get("Inputs") or ({"input1": body["Input"]} if body.get("Input") else {})
        if not inputs and target.training:
            # A training experiment that reads its data with Import Data from a web-service parameter
            # (the "many models" walkthrough's URI): the first GlobalParameters blob URL of a dataset.
            url = self._import_data_url(body.get("GlobalParameters"))
            if url:
                inputs = {"input1": {"_url": url}}
        if not isinstance(inputs, dict) or "input1" not in inputs or not isinstance(inputs["input1"], dict):
            raise classic_error(400, "MissingInputBlobInformation", "The request must give the input1 blob (Inputs.input1).")
        spec = self._outputs_spec(target)
        outputs = body.get("Outputs") or {}
        if not isinstance(outputs, dict):
            raise classic_error(400, "RequestBodyInvalid", "Outputs must be an object.")
        for name, ref in outputs.items():
            if name not in spec:
                raise classic_error(400, "InvalidOutputOverrideName",
                                    f"Invalid output override name: {name}. The valid names are: {', '.join(spec)} (case sensitivity applies).")
            rel = (ref or {}).get("RelativeLocation") or ""
            if not rel.lower().endswith(spec[name]):
                raise classic_error(400, "InvalidBlobExtension",
                                    f'The blob reference: {rel} has an invalid or missing file extension. Supported file extensions for this output type are: "{", ".join(spec[name])}".')
        job_id = hex_id()
        job = {"id": job_id, "scope": target.scope, "status": "NotStarted", "inputs": inputs, "outputs": outputs,
               "globalParameters": body.get("GlobalParameters") or {}, "created": iso(), "startedAt": None, "polls": 0,
               "transition": self.emu.transition("bes"), "outcome": None}
        self.store.put(JOB, f"{target.scope}/{job_id}", job)
        return job_id

    @staticmethod
    def _import_data_url(params: Any) -> str | None:
        for value in (params or {}).values() if isinstance(params, dict) else ():
            if isinstance(value, str) and value.lower().startswith(("http://", "https://")) \
                    and value.split("?", 1)[0].lower().endswith(DATASET_EXTENSIONS):
                return value
        return None

    def _job(self, target: Target, job_id: str) -> dict[str, Any]:
        job = self.store.get(JOB, f"{target.scope}/{job_id.lower()}")
        if job is None:
            raise classic_error(404, "JobNotFound", f"Job {job_id} was not found.")
        return job

    def start(self, target: Target, job_id: str) -> None:
        with self.store.lock:
            job = self._job(target, job_id)
            if job["status"] != "NotStarted":
                raise classic_error(400, "CannotStartJob", f"The job cannot be started because it is in {job['status']} state.")
            job["status"] = "Running"
            job["startedAt"] = time.time()
            self.store.put(JOB, f"{target.scope}/{job['id']}", job)
        fail = self.emu.take_fault("bes_failure", api="bes", operation="Jobs_Start")
        if job["transition"].get("mode") == "immediate":
            self._run(target, job["id"], fail)
            return
        t = threading.Thread(target=self._run, args=(target, job["id"], fail), name=f"bes-{job['id'][:8]}", daemon=True)
        self.threads = [x for x in self.threads if x.is_alive()] + [t]
        t.start()

    def _run(self, target: Target, job_id: str, fail: dict[str, Any] | None) -> None:
        key = f"{target.scope}/{job_id}"
        job = self.store.get(JOB, key)
        if job is None:
            return
        try:
            if fail:
                raise mlmodel.ModelError(fail.get("message") or "The job failed (injected by the emulator).")
            results = self._execute(target, job)
            outcome = {"status": "Finished", "results": results, "details": None}
        except (mlmodel.ModelError, blobs.BlobError) as exc:
            outcome = {"status": "Failed", "results": None, "details": self._details(target, str(exc))}
        except Exception as exc:  # noqa: BLE001 - a job never kills the server
            outcome = {"status": "Failed", "results": None, "details": f"Internal emulator error: {type(exc).__name__}: {exc}"}

        def apply(doc: dict[str, Any]) -> dict[str, Any]:
            doc["outcome"] = outcome
            return doc

        self.store.update(JOB, key, apply)

    @staticmethod
    def _details(target: Target, message: str) -> str:
        module = "Train Model" if target.training else "Score Model"
        return f"Module: {module}; Error: {message}"

    def _execute(self, target: Target, job: dict[str, Any]) -> dict[str, Any]:
        source = job["inputs"]["input1"]
        if "_url" in source:  # Import Data from a GlobalParameters URL (see submit)
            data = blobs.read_url(source["_url"], blobs.accounts_from(self.emu.setting("storage_connection_string")))
        else:
            data = blobs.read_blob(source)
        spec = self._outputs_spec(target)
        names = list(spec)
        results: dict[str, Any] = {}
        if target.training:
            t = target.training
            model, metrics = mlmodel.train(data, label=t["label"], features=t.get("features"), algorithm=t.get("algorithm", "linear"))
            model["trainedBy"] = {"job": job["id"], "service": target.name, "at": iso()}
            results[names[0]] = self._write(target, job, names[0], mlmodel.dumps(model), ".ilearner", "application/octet-stream")
            results[names[1]] = self._write(target, job, names[1], mlmodel.metrics_csv(metrics), ".csv", "text/csv")
        else:
            if target.model_ref is None:
                raise mlmodel.ModelError("the web service has no trained model to score with")
            model = self.load_model(target.model_ref, target.accounts)
            header, rows = mlmodel.read_csv(data)
            cols, _types, values = mlmodel.score_rows(model, header, rows)
            import csv
            import io

            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(cols)
            w.writerows(values)
            results["output1"] = self._write(target, job, "output1", buf.getvalue().encode("utf-8"), ".csv", "text/csv")
        return results

    def _write(self, target: Target, job: dict[str, Any], name: str, data: bytes, ext: str, content_type: str) -> dict[str, Any]:
        ref = job["outputs"].get(name)
        if not ref:
            cs = target.storage or self.emu.setting("storage_connection_string")
            if not cs:
                raise blobs.BlobError("no output location given and the emulator has no default storage "
                                      "(--storage-connection-string / AMLWS_STORAGE_CONNECTION_STRING)")
            suffix = "" if name == next(iter(self._outputs_spec(target))) else f"_{name}"
            ref = {"ConnectionString": cs, "RelativeLocation": f"experimentoutput/{job['id']}/{job['id']}{suffix}{ext}"}
        result = blobs.write_blob(ref, data, content_type=content_type)
        if ref.get("ConnectionString"):
            cs = blobs.parse_connection_string(ref["ConnectionString"])
            container, blob = blobs.split_relative(result["RelativeLocation"])
            result["_sas"] = {"account": cs.get("AccountName"), "key": cs.get("AccountKey"), "container": container, "blob": blob}
        return result

    def status(self, target: Target, job_id: str) -> dict[str, Any]:
        with self.store.lock:
            job = self._job(target, job_id)
            key = f"{target.scope}/{job['id']}"
            if job["status"] == "Running":
                job["polls"] += 1
                outcome = job.get("outcome")
                if outcome is not None and self._due(job):
                    job["status"] = outcome["status"]
                    job["results"] = outcome["results"]
                    job["details"] = outcome["details"]
                self.store.put(JOB, key, job)
        return self.status_body(job)

    @staticmethod
    def _due(job: dict[str, Any]) -> bool:
        t = job["transition"]
        mode = t.get("mode", "polls")
        if mode == "immediate":
            return True
        if mode == "time":
            return time.time() - (job["startedAt"] or 0) >= float(t.get("seconds", 0))
        return job["polls"] > int(t.get("count", 1))

    def status_body(self, job: dict[str, Any]) -> dict[str, Any]:
        status = job["status"]
        code: Any = STATUS_CODES[status] if self.emu.setting("bes_status_format") == "integers" else status
        results = None
        if status == "Finished" and job.get("results"):
            results = {}
            for name, ref in job["results"].items():
                out = {k: v for k, v in ref.items() if not k.startswith("_")}
                src = ref.get("_sas")
                if src and src.get("key"):  # a fresh ~24 h read SAS on every GET
                    out["SasBlobToken"] = blobs.read_sas(src["account"], src["key"], src["container"], src["blob"])
                results[name] = out
        return {"StatusCode": code, "Results": results, "Details": job.get("details") if status == "Failed" else None}

    def cancel(self, target: Target, job_id: str) -> None:
        with self.store.lock:
            job = self._job(target, job_id)
            key = f"{target.scope}/{job['id']}"
            if job["status"] in TERMINAL:
                self.store.delete(JOB, key)
                return
            job["status"] = "Cancelled"
            self.store.put(JOB, key, job)

    def list_jobs(self, target: Target) -> list[dict[str, Any]]:
        return [{"Id": j["id"], "CreatedAt": j["created"], **self.status_body(j)} for j in self.store.list(JOB, target.scope + "/")]

    # --- RRS ----------------------------------------------------------------------------------
    def execute(self, target: Target, body: Any, *, swagger: bool) -> dict[str, Any]:
        if target.training:
            raise classic_error(400, "ModuleExecutionError",
                                "RRS cannot be used for producing trained models: call this training web service through BES.")
        if target.model_ref is None:
            raise classic_error(400, "ModuleExecutionError", "The web service has no trained model to score with.")
        inputs = (body or {}).get("Inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, dict) or not inputs:
            raise classic_error(400, "RequestBodyInvalid", "The request must have Inputs.input1.")
        name, table = next(iter(inputs.items()))
        if isinstance(table, list):  # swagger format: a list of row objects
            columns = list(table[0]) if table else []
            values = [[row.get(c) for c in columns] for row in table]
        elif isinstance(table, dict) and isinstance(table.get("ColumnNames"), list):
            columns, values = table["ColumnNames"], table.get("Values") or []
        else:
            raise classic_error(400, "RequestBodyInvalid", f"Input {name} must have ColumnNames and Values.")
        try:
            model = self.load_model(copy.deepcopy(target.model_ref), target.accounts)
            cols, types, out = mlmodel.score_rows(model, columns, values)
        except (mlmodel.ModelError, blobs.BlobError) as exc:
            raise classic_error(400, "ModuleExecutionError", f"Module execution encountered an error. {exc}") from None
        if swagger:
            return {"Results": {"output1": [dict(zip(cols, row)) for row in out]}}
        return {"Results": {"output1": {"type": "DataTable", "value": {"ColumnNames": cols, "ColumnTypes": types, "Values": out}}}}
