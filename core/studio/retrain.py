"""The retraining workflow in one call: upload -> BES job -> evaluate -> gate -> deploy -> smoke test.

This is the documented Studio retraining walkthrough (REFERENCE.md §6) composed from
the pieces every step also exposes alone (``amlws jobs``, ``amlws patch-ilearner``,
``amlws update``, ``amlws invoke``)::

    from amlws import api
    from amlws.studio.retrain import RetrainRequest, retrain

    host = api.open_host()
    result = retrain(host, RetrainRequest(
        training_url="https://ussouthcentral.services.azureml.net/workspaces/W/services/S/jobs",
        target="https://management.azureml.net/workspaces/W/webservices/P/endpoints/ep1",
        data="new.csv", evaluation_output="output2", gates=["Accuracy>=0.85"]),
        api_key=..., storage_connection_string=...)

Every run writes its model to a new blob name (``<prefix>/<run id>/model.ilearner``):
reusing one name is what the docs associate with intermittent PATCH failures.
The backend is only reached through the :class:`~amlws.host.Host` facade.
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..errors import AmlwsError, NotFoundError, UsageError
from ..model import ModelLocation, parse_sas_time
from ..redact import redact, redact_obj
from ..safety.change import update

log = logging.getLogger("amlws.studio.retrain")

#: A SAS that expires within this margin is refreshed before it is handed to the service.
SAS_MARGIN = timedelta(minutes=10)


@dataclass
class RetrainRequest:
    """What ``amlws retrain`` was asked to do.

    :param training_url: the training service's BES URL (``{ApiLocation}/jobs``), or the training web
        service itself (a target of any backend: its backend finds the URL and key).
    :param target: the service to update (a target of any backend).
    :param data: local CSV to upload, a blob URL (with SAS), or ``container/blob``; ``None``
        when the training service reads its own data (e.g. an Import Data global parameter).
    :param input_name: the training service's Web Service Input name.
    :param model_output: the output that writes the trained model (``.ilearner``).
    :param evaluation_output: the output that writes Evaluate Model's CSV, if any.
    :param gates: ``"Accuracy>=0.85"``-style metric gates; all must pass.
    :param job_config: an extra job config merged under the generated one (global parameters, inputs).
    :param selector: which trained-model resource/asset to patch when there are several.
    :param smoke_input: an RRS input file scored before and after the update.
    :param smoke_url: the scoring service's RRS URL (default: the updated service's own, from its backend).
    :param deploy_what_if: train and evaluate, then only show the update (plan) instead of sending it.
    """

    training_url: str
    target: str | None = None
    target_options: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None
    data: str | None = None
    input_name: str = "input1"
    model_output: str = "output1"
    evaluation_output: str | None = None
    gates: list[str] = field(default_factory=list)
    container: str | None = None
    blob_prefix: str = "retrain"
    job_config: dict[str, Any] | None = None
    global_parameters: dict[str, Any] = field(default_factory=dict)
    selector: str | None = None
    smoke_input: str | None = None
    smoke_url: str | None = None
    keep_job: bool = False
    timeout: float | None = None
    deploy_what_if: bool = False


def new_run_id(now: datetime | None = None) -> str:
    """``20260128T101500Z-3f9a2c``: sortable, and unique per run."""
    when = now or datetime.now(timezone.utc)
    return f"{when:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def job_for_observers(status: Any) -> dict[str, Any]:
    """The dict ``amlws_after_retrain_job`` receives: SAS signatures and keys redacted."""
    return {
        "jobId": status.job_id,
        "status": status.status,
        "results": redact_obj(status.results) if status.results is not None else None,
        "details": redact(status.details) if status.details else None,
    }


def sas_expired(location: ModelLocation, *, now: datetime | None = None, margin: timedelta = SAS_MARGIN) -> bool:
    expiry = location.sas_fields().get("se") if location.sas_blob_token else None
    if not expiry:
        return False
    when = parse_sas_time(expiry)
    return when is not None and when <= (now or datetime.now(timezone.utc)) + margin


def fresh_location(bes: Any, status: Any, output: str, *, now: datetime | None = None) -> tuple[ModelLocation, Any]:
    """``Results.<output>`` with a SAS that is still valid, re-reading the job status when it expired.

    The docs: "If your SAS token expires before you finish updating the endpoint, you must
    perform a GET with the Job Id to obtain a fresh token."
    """
    location = status.location(output)
    if not sas_expired(location, now=now):
        return location, status
    log.info("the SAS of output %s expired; re-reading job %s for a fresh one", output, status.job_id)
    status = bes.status(status.job_id)
    location = status.location(output)
    if sas_expired(location, now=now):
        raise UsageError(
            f"the SAS token of BES output {output!r} has expired and the service returned no fresh one",
            hint="give the model with patch-ilearner --uri and a new SAS (amlws can make one from the storage connection string)",
        )
    return location, status


class _Outcome(dict):
    """The structured result, also carried by errors raised part-way (``err.details['result']``)."""


def retrain(
    host: Any,
    request: RetrainRequest,
    *,
    api_key: str,
    storage_connection_string: str | None = None,
    bes: Any = None,
    progress: Callable[[Any, float], None] | None = None,
    info: Callable[[str], None] | None = None,
    confirm: Callable[[str], None] | None = None,
    run_id: str | None = None,
    scoring_api_key: str | None = None,
    rrs_http: Any = None,
) -> dict[str, Any]:
    """Run the whole workflow and return each step's result.

    Under the invocation's ``--what-if`` (``host.settings.what_if``) nothing is uploaded,
    trained or changed: the result is the plan. With ``request.deploy_what_if`` the model
    is trained and evaluated and the update is only planned (:func:`amlws.api.plan_update`).

    :param api_key: the training service's key; empty: the service's own, else the ``api_key`` setting.
    :param bes: a :class:`~amlws.studio.bes.BesClient` (default: one for ``request.training_url``).
    :param confirm: asks before the update (default: :func:`amlws.api.confirm`).
    :raises GateFailedError: a gate failed (exit 5); nothing was deployed.
    :raises JobFailed, JobCancelled, JobTimeout: the training job did not finish.
    Errors raised after a step completed carry the partial result in ``err.details["result"]``.
    """
    from .. import api
    from ..evaluation import parse_evaluation, parse_gate
    from ..gates import gate_step, numbers
    from .jobconfig import build_job_config, redacted, validate_job_config

    settings = host.settings
    say = info or _stderr
    ask = confirm or (lambda q: api.confirm(settings, q))
    run_id = run_id or new_run_id()
    gates = [parse_gate(g) for g in request.gates]
    if gates and not request.evaluation_output:
        raise UsageError("--gate needs the evaluation output", hint="pass --evaluation-output NAME (the Evaluate Model's Web Service Output, e.g. output2)")
    if request.evaluation_output == request.model_output:
        raise UsageError("the model and evaluation outputs must differ", hint="e.g. --model-output output1 --evaluation-output output2")
    what_if = bool(getattr(settings, "what_if", False))
    deploy_plan_only = what_if or request.deploy_what_if
    if not deploy_plan_only and not getattr(settings, "yes", False) and not getattr(settings, "interactive", False) and confirm is None:
        # Fail before a long training run rather than at the confirmation after it.
        raise UsageError("retrain updates the service and needs confirmation, but stdin is not a terminal", hint="pass --yes (or --what-if / --deploy-what-if)")

    target = host.resolve(request.target, backend=request.backend, options=request.target_options or None)
    if bes is None or what_if:  # a training web service -> its BES URL (and key); a URL stays as it is
        training_url, found_key = api.service_endpoint(host, "bes", url=request.training_url, api_key=api_key or None,
                                                       include_key=bes is None and not what_if)
        api_key = api_key or found_key or ""
    else:
        training_url = request.training_url
    out = _Outcome(runId=run_id, target=target.id, backend=target.backend, status="running", steps={})
    steps: dict[str, Any] = out["steps"]

    # Preflight: a bad target or credentials should fail before an hour of training.
    live = host.get_definition(target)
    steps["preflight"] = {"target": target.id, "backend": target.backend}
    smoke_body: dict[str, Any] | None = None
    smoke_url = smoke_key = ""
    if request.smoke_input:  # read the input and find the key now, not after training
        from .rrs import load_input

        smoke_body = load_input(request.smoke_input)
        smoke_url, smoke_key = _smoke_endpoint(host, request, target, live, scoring_api_key)

    container = request.container or settings.get("storage_container") or "amlws-retrain"
    prefix = "/".join(p for p in (request.blob_prefix.strip("/"), run_id) if p)
    cs = storage_connection_string

    try:
        # 1. training data
        input_ref, upload = _plan_input(request, cs, container, prefix)
        # 2. the job config: unique output names for this run
        outputs = _output_refs(request, cs, container, prefix)
        extra = build_job_config(
            request.job_config or {},
            inputs={request.input_name: input_ref} if input_ref else None,
            outputs=outputs,
            global_parameters=request.global_parameters or None,
        )
        config = validate_job_config(extra, require_model_output=True, source="retrain job config")

        if what_if:
            out.update(status="what_if", whatIf=True)
            steps["upload"] = upload
            steps["job"] = {"url": _jobs_url(training_url), "config": redacted(config)}
            steps["deploy"] = {"target": target.id, "wouldPatch": request.selector or "the trained model", "wouldUpdate": True}
            return dict(out)

        if upload.get("local"):
            from ..azure.blob import upload_file

            say(f"uploading {upload['local']} to {container}/{upload['blob']}")
            loc = upload_file(upload["local"], connection_string=cs or "", container=container, blob_name=upload["blob"],
                              missing_hint="check the --data path")
            upload["url"] = loc.blob_url
        steps["upload"] = {k: v for k, v in upload.items()}

        # 3. train
        if bes is None:
            from .bes import BesClient

            bes = BesClient.from_url(training_url, api_key, settings=settings, interactive=bool(getattr(settings, "interactive", False)))
        job_ids: list[str] = []
        say(f"training: BES job on {bes.api_location} (run {run_id})")
        try:
            def submitted(job_id: str) -> None:
                job_ids.append(job_id)
                say(f"submitted BES job {job_id}")

            status = bes.run(config, timeout=request.timeout, keep_job=request.keep_job, progress=progress, on_submitted=submitted, raise_on_failure=False)
        except AmlwsError as exc:
            if job_ids:
                steps["job"] = {"jobId": job_ids[0], "status": "unknown"}
            _with_result(exc, out)
            raise
        host.notify_retrain_job(job_for_observers(status))
        steps["job"] = {"jobId": status.job_id, **{k: v for k, v in status.to_dict().items() if k != "jobId"}}
        from .bes import raise_for_terminal

        raise_for_terminal(status)
        location, status = fresh_location(bes, status, request.model_output)
        steps["model"] = {"output": request.model_output, "uri": redact(location.uri)}

        # 4. evaluate and gate
        evaluation = None
        if request.evaluation_output:
            from ..azure.blob import download

            eval_loc, status = fresh_location(bes, status, request.evaluation_output)
            data = download(eval_loc, connection_string=cs)
            evaluation = parse_evaluation(data, delimiter="\t" if eval_loc.relative_location.lower().endswith(".tsv") else None)
            steps["evaluation"] = {"output": request.evaluation_output, **evaluation.to_dict()}
            say("evaluation: " + ", ".join(f"{k}={v}" for k, v in evaluation.metrics.items()))
            if gates:
                gate_step(evaluation, gates, out)  # a failure: the result (status gate_failed) goes with the error, below

        # 5. smoke test before
        if smoke_body is not None:
            steps["smokeBefore"] = _score(smoke_url, smoke_key, smoke_body, settings, rrs_http)

        # 6. deploy: fresh definition, fresh SAS, patch, update
        definition = host.get_definition(target)
        location, status = fresh_location(bes, status, request.model_output)
        patched = host.patch_ilearner(definition, location, selector=request.selector)
        if deploy_plan_only:
            steps["deploy"] = api.plan_update(host, target, patched, live_document=host.export(definition), live=definition)
            out["status"] = "planned"
            return dict(out)
        ask(f"Update {target.id} with the new model?")
        say(f"deploying the new model to {target.id}")
        metrics = numbers(evaluation.metrics) if evaluation is not None else None
        result = update(host, target, patched, live=definition, action="retrain", note=f"run {run_id}", metrics=metrics)
        steps["deploy"] = result.to_dict()
        out["status"] = "deployed"

        # 7. smoke test after
        if smoke_body is not None:
            steps["smokeAfter"] = _score(smoke_url, smoke_key, smoke_body, settings, rrs_http)
            steps["smokeAfter"]["changed"] = steps["smokeAfter"]["outputs"] != steps["smokeBefore"]["outputs"]
        return dict(out)
    except AmlwsError as exc:
        _with_result(exc, out)
        raise


def _with_result(exc: AmlwsError, out: dict[str, Any]) -> AmlwsError:
    exc.details.setdefault("result", dict(out))
    return exc


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _jobs_url(url: str) -> str:
    from .bes import api_location_from_url

    return api_location_from_url(url) + "/jobs"


def _account(cs: str | None) -> Any:
    if not cs:
        return None
    from ..azure.blob import StorageAccount

    return StorageAccount.from_connection_string(cs)


def _ref_for(cs: str | None, container: str, blob: str, *, write: bool) -> dict[str, Any]:
    """A blob reference the service can use: connection string when it has an account key, else SAS."""
    from .jobconfig import blob_ref

    account = _account(cs)
    if account is None:
        raise UsageError("retrain needs a storage account for the job's outputs", hint="set AMLWS_STORAGE_CONNECTION_STRING")
    if account.account_key:
        return blob_ref(f"{container}/{blob}", connection_string=cs)
    if account.sas:
        return blob_ref(f"{container}/{blob}", base_location=account.blob_endpoint, sas_blob_token=account.sas)
    raise UsageError("the storage connection string has neither an account key nor a SAS",
        hint='use a connection string with AccountKey=... or SharedAccessSignature=... (amlws config set storage_connection_string)')


def _plan_input(request: RetrainRequest, cs: str | None, container: str, prefix: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    data = request.data
    if not data:
        return None, {"skipped": True, "reason": "no --data: the training service reads its own data"}
    if data.startswith(("https://", "http://")):
        from .jobconfig import parse_ref_spec

        ref = parse_ref_spec(data, connection_string=cs, what="--data")
        return ref, {"skipped": True, "existing": redact(data)}
    path = Path(data)
    if path.is_file():
        if not cs:
            raise UsageError("uploading --data needs a storage connection string", hint="set AMLWS_STORAGE_CONNECTION_STRING, or give a blob URL with a SAS")
        blob = f"{prefix}/{path.name}"
        return _ref_for(cs, container, blob, write=False), {"local": str(path), "container": container, "blob": blob, "bytes": path.stat().st_size}
    if "/" in data and not path.exists() and not path.is_absolute() and not data.startswith((".", "~")):
        from .jobconfig import parse_ref_spec

        return parse_ref_spec(data, connection_string=cs, what="--data"), {"skipped": True, "existing": data}
    raise NotFoundError(f"training data not found: {data}", hint="give a local CSV file, a blob URL with a SAS, or container/blob")


def _output_refs(request: RetrainRequest, cs: str | None, container: str, prefix: str) -> dict[str, Any]:
    outputs = {request.model_output: _ref_for(cs, container, f"{prefix}/model.ilearner", write=True)}
    if request.evaluation_output:
        outputs[request.evaluation_output] = _ref_for(cs, container, f"{prefix}/evaluation.csv", write=True)
    return outputs


def _smoke_endpoint(host: Any, request: RetrainRequest, target: Any, live: Any, scoring_api_key: str | None) -> tuple[str, str]:
    """The RRS URL and key of the smoke test: ``--smoke-url`` with ``scoring_api_key``, or the updated
    service's own (``amlws_service_endpoints``, from the live definition just read)."""
    from ..redact import register_secret

    url, key = request.smoke_url, scoring_api_key
    if not url:
        endpoints = host.service_endpoints(target, include_key=not key, definition=live)
        url, key = endpoints.rrs_url, key or endpoints.api_key
    key = key or host.settings.require(
        "scoring_api_key", hint="--smoke-input needs the predictive endpoint's API key: set AMLWS_SCORING_API_KEY", secret=True
    )
    register_secret(key)
    return url, key


def _score(url: str, key: str, body: dict[str, Any], settings: Any, http: Any) -> dict[str, Any]:
    from .rrs import invoke

    result = invoke(url, key, body, settings=settings, http=http)
    return result.to_dict()
