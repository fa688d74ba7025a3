"""Azure ML v2 training jobs: submit, status, wait, cancel, logs; local inputs uploaded to the
workspace's default datastore; a job's model output registered as the next model version.

The building blocks of a v2 retrain (issue 16), each usable alone (``amlws mlv2 jobs ...``):

- ``PUT W/jobs/NAME`` is synchronous (REFERENCE.md §2.4, §9): 200/201 with ``properties.status``;
- the status is polled (``GET W/jobs/NAME``) to a terminal state (:data:`TERMINAL`, azure-ai-ml's);
- ``POST …/cancel`` answers 202 + ``Location``, polled by the one ARM poller;
- a local input is uploaded to the default datastore (``GET W/datastores?isDefault=true``, §5.7)
  and passed as ``azureml://datastores/NAME/paths/…``: with ``AMLWS_STORAGE_CONNECTION_STRING``
  (or the profile's) when set -- Azurite, for the emulator -- else with the datastore's account
  key (``POST W/datastores/NAME/listSecrets``);
- logs: the job's ``user_logs/std_log.txt`` on the artifact store (``workspaceartifactstore``,
  ``ExperimentRun/dcid.JOB/``, §9): where the emulator writes it; on Azure the path is
  azure-ai-ml's ``DEFAULT_ARTIFACT_STORE`` convention and the file name is UNVERIFIED.

HTTP goes through the ARM client's azure-core pipeline, blobs through azure-storage-blob: both
honour ``HTTPS_PROXY``/``NO_PROXY`` (nothing here turns ``trust_env`` off).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from amlws.errors import NotFoundError, OperationFailed, OperationTimeout, UsageError

from . import schema
from .ids import workspace_id

log = logging.getLogger("amlws.mlv2.jobs")

#: Terminal job states (azure-ai-ml's ``TERMINAL_STATUSES``, REFERENCE.md §9).
TERMINAL = ("Completed", "Failed", "Canceled", "NotResponding", "Paused")
#: The job types amlws submits (the ones the swagger excerpt carries).
JOB_TYPES = ("Command", "Pipeline")
#: Where a job's log is on the artifact store (REFERENCE.md §9; file name UNVERIFIED on Azure).
LOG_DATASTORE = "workspaceartifactstore"
LOG_PATH = "ExperimentRun/dcid.{job}/user_logs/std_log.txt"
#: Where uploaded inputs go on the default datastore.
UPLOAD_PREFIX = "amlws/inputs"

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")
_SUFFIX = re.compile(r"-\d{8}T\d{6}Z-[0-9a-f]{4}$")


# --- where ------------------------------------------------------------------------------------


def workspace_ref(settings: Any, *, resource_group: str | None, workspace: str | None, subscription: str | None = None) -> str:
    """``-g RG -w WS [--subscription S]`` -> the workspace's ARM id (resource group and subscription
    may come from the settings, the subscription from ``AZURE_SUBSCRIPTION_ID``)."""
    from .backend import subscription_of

    rg = resource_group or settings.get("resource_group")
    if not workspace or not rg:
        raise UsageError("a job needs its workspace", hint="pass -g RESOURCE_GROUP -w WORKSPACE")
    return workspace_id(subscription_of(settings, subscription), str(rg), str(workspace))


def job_id(workspace: str, name: str) -> str:
    return f"{workspace}/jobs/{name}"


def client(settings: Any, workspace: str, **kwargs: Any) -> Any:
    from .backend import client as make
    from .ids import parse_target

    sub = (parse_target(workspace + "/onlineEndpoints/x") or {}).get("subscription")
    return make(settings, subscription=sub, **kwargs)


# --- the job body -------------------------------------------------------------------------------


def check_job(body: Any, source: str) -> dict[str, Any]:
    """``body`` as a ``JobBaseResource`` of a Command or Pipeline job, or exit 2 "not a job"; a
    bare ``properties`` object (``{"jobType": …}``) is wrapped."""
    if isinstance(body, dict) and "properties" not in body and "jobType" in body:
        body = {"properties": body}
    props = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(props, dict) or props.get("jobType") not in JOB_TYPES:
        raise UsageError(f"{source} is not an Azure ML job (no properties.jobType Command or Pipeline)",
                         hint='a job file is {"properties": {"jobType": "Command", "command": …, "environmentId": …}} '
                              "(amlws mlv2 jobs status NAME -o json shows one)")
    problems = schema.validate(body, "JobBaseResource", closed=False)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UsageError(f"{source} is not a valid job: " + "; ".join(problems[:3]) + more,
                         hint="fix the job against the CommandJob schema (REFERENCE.md §5.5)")
    return body


def load_job_file(path: str | Path) -> dict[str, Any]:
    """A job file (``--job-file``), checked (:func:`check_job`).

    :raises NotFoundError: (exit 3) no such file. :raises UsageError: (exit 2) not JSON, not a job.
    """
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"job file not found: {p}", hint="check the --job-file path")
    try:
        body = json.loads(p.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise UsageError(f"{p} is not JSON: {exc}", hint="a job file is the job resource as JSON") from None
    return check_job(body, str(p))


def copy_of(job: dict[str, Any]) -> dict[str, Any]:
    """An earlier job's definition to submit again: its ``properties`` without what the service
    sets (read-only fields, by the schema) and without output URIs the service filled in for that
    job (its default locations name it: the copy writes its own)."""
    old = str(job.get("name") or "")
    props = json.loads(json.dumps(job.get("properties") or {}))
    body: dict[str, Any] = {"properties": props}
    for problem in schema.validate(body, "JobBaseResource", closed=False):
        path, _, what = problem.partition(": ")
        if what.startswith("read-only"):
            _drop(body, path)
    for output in (props.get("outputs") or {}).values():
        uri = output.get("uri") if isinstance(output, dict) else None
        if old and isinstance(uri, str) and f"/{old}/" in uri + "/":
            output.pop("uri", None)
    return body


def _drop(document: dict[str, Any], path: str) -> None:
    """Remove ``$.a.b.c`` from ``document`` (a missing step: nothing)."""
    keys = path.split(".")[1:]
    node: Any = document
    for key in keys[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and keys:
        node.pop(keys[-1], None)


def unique_name(base: str, *, now: datetime | None = None) -> str:
    """``BASE-<utc timestamp>-<4 hex>`` (an earlier suffix replaced, so copies of copies stay short)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    stem = _SUFFIX.sub("", base)[:230] or "job"
    return f"{stem}-{stamp}-{secrets.token_hex(2)}"


def parse_inputs(pairs: list[str] | None) -> dict[str, str]:
    """``["train=data.csv", …]`` -> ``{"train": "data.csv"}`` (exit 2 for a pair without ``=``): the one
    parser :func:`amlws.model.parse_inputs`, which ``amlws retrain`` uses too."""
    from amlws.model import parse_inputs as parse

    return parse(pairs)


def is_uri(value: str) -> bool:
    return value.startswith("azureml:") or "://" in value


def with_inputs(body: dict[str, Any], inputs: dict[str, str]) -> dict[str, Any]:
    """``body`` with each named input's ``uri`` (a ``literal`` input's ``value``) replaced.

    :raises UsageError: (exit 2) the job has no input of that name.
    """
    props = body.setdefault("properties", {})
    have = props.get("inputs") or {}
    for name, value in inputs.items():
        if name not in have or not isinstance(have[name], dict):
            raise UsageError(f"the job has no input {name!r}", hint="its inputs: " + (", ".join(sorted(have)) or "none"))
        if have[name].get("jobInputType") == "literal":
            have[name]["value"] = value
        else:
            have[name]["uri"] = value
    return body


# --- datastores and uploads ----------------------------------------------------------------------


def default_datastore(c: Any, workspace: str) -> dict[str, Any]:
    """``GET W/datastores?isDefault=true`` -> ``value[0]`` (REFERENCE.md §5.7)."""
    found = c.list(f"{workspace}/datastores", params={"isDefault": "true"}, what="find the default datastore")
    if not found:
        raise NotFoundError("the workspace has no default datastore", hint="set one in Azure ML studio (Data > Datastores)")
    return found[0]


def datastore_connection_string(settings: Any, c: Any, workspace: str, datastore: dict[str, Any]) -> str:
    """How to reach a datastore's blobs: ``AMLWS_STORAGE_CONNECTION_STRING`` (or the profile's) when
    set (Azurite, a proxy-only account), else the datastore's own account with its key
    (``listSecrets``, registered as a secret)."""
    from amlws.azure.blob import storage_connection_string
    from amlws.redact import register_secret

    override = storage_connection_string(settings, required=False)
    if override:
        return override
    props = datastore.get("properties") or {}
    name = datastore.get("name")
    secret = c.post(f"{workspace}/datastores/{name}", "listSecrets", what="read the datastore's key") or {}
    key = secret.get("key")
    if not key or not props.get("accountName"):
        raise UsageError(f"cannot read the key of datastore {name} (it is {secret.get('secretsType') or 'not key-based'})",
                         hint="set AMLWS_STORAGE_CONNECTION_STRING to a connection string of its storage account")
    register_secret(str(key))
    return (f"DefaultEndpointsProtocol={props.get('protocol') or 'https'};AccountName={props['accountName']};"
            f"AccountKey={key};EndpointSuffix={props.get('endpoint') or 'core.windows.net'}")


def upload_input(settings: Any, c: Any, workspace: str, path: str | Path, *, folder: str) -> str:
    """Upload a local file (or every file of a folder) to the default datastore under
    ``amlws/inputs/FOLDER/`` -> its ``azureml://datastores/NAME/paths/…`` URI.

    :raises NotFoundError: (exit 3) the path does not exist.
    """
    from amlws.azure.blob import upload_file

    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"input not found: {p}", hint="check the --input NAME=PATH path (or give an azureml:// or https:// URI)")
    store = default_datastore(c, workspace)
    props = store.get("properties") or {}
    container = str(props.get("containerName") or "")
    cs = datastore_connection_string(settings, c, workspace, store)
    prefix = f"{UPLOAD_PREFIX}/{folder}"
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        blob = f"{prefix}/{f.name}" if p.is_file() else f"{prefix}/{p.name}/{f.relative_to(p).as_posix()}"
        upload_file(f, connection_string=cs, container=container, blob_name=blob, overwrite=True)
    tail = p.name if p.is_file() else p.name + "/"
    return f"azureml://datastores/{store.get('name')}/paths/{prefix}/{tail}"


def resolve_inputs(settings: Any, c: Any, workspace: str, inputs: dict[str, str], *, folder: str) -> dict[str, str]:
    """Each ``--input`` value as a URI: URIs as given, local paths uploaded (:func:`upload_input`)."""
    return {name: value if is_uri(value) else upload_input(settings, c, workspace, value, folder=folder)
            for name, value in inputs.items()}


# --- submit, status, wait, cancel, logs -------------------------------------------------------------


def prepare(settings: Any, workspace: str, *, job_file: str | Path | None = None, from_job: str | None = None,
            inputs: dict[str, str] | None = None, name: str | None = None) -> tuple[str, dict[str, Any]]:
    """The job to submit: ``(name, body)`` from ``--job-file`` or a copy of ``--from-job`` (under a
    new unique name), with ``--input`` overrides (local paths uploaded)."""
    if (job_file is None) == (from_job is None):
        raise UsageError("give one of --job-file and --from-job", hint="--job-file JOB.json, or --from-job NAME to copy an earlier job")
    with client(settings, workspace) as c:
        if job_file is not None:
            body = load_job_file(job_file)
            chosen = name or unique_name(str(body.get("name") or Path(job_file).stem))
        else:
            earlier = c.get(job_id(workspace, str(from_job)), what=f"get job {from_job}")
            body = copy_of(earlier)
            chosen = name or unique_name(str(from_job))
        if not _NAME.match(chosen):
            raise UsageError(f"invalid job name {chosen!r}", hint="letters, digits, - and _, starting with a letter or digit")
        if inputs:
            with_inputs(body, {k: "" for k in inputs})  # unknown names refused before any upload
            with_inputs(body, resolve_inputs(settings, c, workspace, inputs, folder=chosen))
        body.pop("name", None)
        body.pop("id", None)
        return chosen, check_job(body, f"job {chosen}")


def submit(settings: Any, workspace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """``PUT W/jobs/NAME`` (synchronous, REFERENCE.md §2.4): the job as created."""
    with client(settings, workspace) as c:
        return dict(c.put_job(workspace, name, body))


def status_of(job: dict[str, Any]) -> str:
    return str((job.get("properties") or {}).get("status") or "Unknown")


def get_job(settings: Any, workspace: str, name: str, *, c: Any = None) -> dict[str, Any]:
    if c is not None:
        return dict(c.get(job_id(workspace, name), what=f"get job {name}"))
    with client(settings, workspace) as own:
        return dict(own.get(job_id(workspace, name), what=f"get job {name}"))


def job_error(job: dict[str, Any]) -> str | None:
    """The error a failed job reports. The job resource has no error field in the spec; the
    emulator names it in ``properties.properties["amlws.emulator.error"]`` (any ``…error`` key of
    ``properties.properties`` is read, UNVERIFIED on Azure, where azure-ai-ml reads run history)."""
    extra = (job.get("properties") or {}).get("properties") or {}
    for key, value in extra.items():
        if key.lower().endswith("error") and value:
            return str(value)
    return None


def wait(settings: Any, workspace: str, name: str, *, timeout: float | None = None, keep_job: bool = False,
         on_status: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Poll ``properties.status`` until a terminal state; each change reported (``on_status``, and
    amlws.progress on stderr). At ``timeout`` or Ctrl-C the job is cancelled unless ``keep_job``.

    :raises OperationFailed: (exit 1) the job ended other than Completed, with its error and a logs hint.
    :raises OperationTimeout: (exit 1) still running at ``timeout``.
    """
    from amlws.azure import polling as arm_polling
    from amlws.progress import current

    interval = arm_polling.poll_interval(settings)
    deadline = None if timeout is None else time.monotonic() + timeout
    start = time.monotonic()
    last = None
    with client(settings, workspace) as c:
        try:
            while True:
                job = get_job(settings, workspace, name, c=c)
                state = status_of(job)
                if state != last:
                    last = state
                    current().update(f"job {name}", state, time.monotonic() - start)
                    if on_status is not None:
                        on_status(state)
                if state in TERMINAL:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    what = "left running (--keep-job)" if keep_job else "cancelled"
                    if not keep_job:
                        cancel(settings, workspace, name, c=c)
                    raise OperationTimeout(f"job {name} was still {state} after {timeout:g} s; {what}",
                                           hint="pass a longer --timeout" + ("" if keep_job else ", or --keep-job to leave it running"))
                sleep(interval)
        except KeyboardInterrupt:
            if not keep_job:
                log.warning("interrupted: cancelling job %s", name)
                cancel(settings, workspace, name, c=c)
            raise
    if state != "Completed":
        error = job_error(job)
        raise OperationFailed(f"job {name} ended {state}" + (f": {error}" if error else ""),
                              hint=f"read its log: amlws mlv2 jobs logs {name} -g RG -w WORKSPACE")
    return job


def cancel(settings: Any, workspace: str, name: str, *, c: Any = None) -> dict[str, Any]:
    """``POST W/jobs/NAME/cancel`` (202 + ``Location``, polled by the one poller): the job after it."""
    if c is None:
        with client(settings, workspace) as own:
            return cancel(settings, workspace, name, c=own)
    c.post(job_id(workspace, name), "cancel", what=f"cancel job {name}", progress="cancel", lro=True)
    return get_job(settings, workspace, name, c=c)


def logs(settings: Any, workspace: str, name: str) -> str:
    """The job's ``std_log.txt`` from the artifact store (:data:`LOG_PATH`), read with the
    storage connection string or the datastore's key.

    :raises NotFoundError: (exit 3) the job or its log does not exist (yet).
    """
    from amlws.azure.blob import StorageAccount, download

    with client(settings, workspace) as c:
        get_job(settings, workspace, name, c=c)  # an unknown job is exit 3 naming the job
        store = c.get(f"{workspace}/datastores/{LOG_DATASTORE}", what="get the artifact datastore")
        cs = datastore_connection_string(settings, c, workspace, store)
    container = str((store.get("properties") or {}).get("containerName") or "")
    location = StorageAccount.from_connection_string(cs).location(container, LOG_PATH.format(job=name))
    try:
        data = download(location, connection_string=cs)
    except NotFoundError:
        raise NotFoundError(f"job {name} has no log yet ({LOG_DATASTORE}/{LOG_PATH.format(job=name)})",
                            hint="a job writes its log once it runs; see it in Azure ML studio (Jobs > Outputs + logs)") from None
    return data.decode("utf-8", errors="replace")


# --- registration -----------------------------------------------------------------------------------


def output_uri(job: str, output: str) -> str:
    return f"azureml://jobs/{job}/outputs/{output}/paths/"


def register(host: Any, workspace: str, job: str, output: str, model_name: str, *,
             description: str | None = None) -> Any:
    """Register a completed job's output ``azureml://jobs/JOB/outputs/OUTPUT/paths/`` as the next
    version of ``model_name``, through the change path (:func:`.backend.register_model`).

    :raises UsageError: (exit 2) the job has no such output, or it has not completed.
    """
    from .backend import register_model

    found = get_job(host.settings, workspace, job)
    outputs = (found.get("properties") or {}).get("outputs") or {}
    if output not in outputs:
        raise UsageError(f"job {job} has no output {output!r}", hint="its outputs: " + (", ".join(sorted(outputs)) or "none"))
    if status_of(found) != "Completed":
        raise UsageError(f"job {job} is {status_of(found)}, not Completed: its output cannot be registered",
                         hint=f"wait for it: amlws mlv2 jobs wait {job}")
    return register_model(host, workspace, model_name, output_uri(job, output), model_type="custom_model",
                          description=description or f"output {output} of job {job}")


__all__ = ["TERMINAL", "cancel", "check_job", "copy_of", "default_datastore", "get_job", "load_job_file",
           "logs", "prepare", "register", "submit", "unique_name", "wait", "with_inputs", "workspace_ref"]
