"""``amlws retrain ENDPOINT|DEPLOYMENT --job-file|--from-job``: the Azure ML v2 retraining loop as one
change (issue 16), composed from the pieces each also exposed alone:

1. local ``--input`` paths uploaded to the default datastore, the job submitted
   (:func:`.jobs.prepare`, :func:`.jobs.submit`);
2. the job followed to its end (:func:`.jobs.wait`: cancelled on timeout or Ctrl-C unless ``keep_job``);
3. its MLflow metrics read (:func:`.mlflow.run_metrics`) and the gates checked
   (:func:`amlws.gates.check_gates`): a failure is exit 5 with nothing registered or deployed;
4. the observers asked about the deployment *before* the model is registered (a frozen target gets
   no new model version either);
5. ``azureml://jobs/JOB/outputs/OUTPUT/paths/`` registered as the next version (:func:`.jobs.register`);
6. deployed: ``rollout`` (an endpoint target: :func:`.rollout.run_rollout`) or ``in-place`` (a
   deployment target: :func:`amlws.safety.change.update` with the patched deployment), history's
   entry (action ``retrain``) carrying the job, the version and the metrics;
7. smoke-scored before and after (``--smoke-file``).

The result has the shape of the Studio retrain's (``runId``, ``target``, ``backend``, ``status``,
``steps``) plus ``job``, ``metrics``, ``modelVersion`` and ``deployment``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlws import hookimpl
from amlws.errors import AmlwsError, NotFoundError, UsageError

if TYPE_CHECKING:
    from amlws.host import Host
    from amlws.model import RetrainJob, Target

#: the job output holding the model when ``--model-output`` is not given (the emulator's trainer and the docs' jobs)
DEFAULT_MODEL_OUTPUT = "model"
BACKEND = "mlv2"
STRATEGIES = ("rollout", "in-place")


def _stderr(message: str) -> None:
    from amlws.progress import current

    current().pause()  # a live progress line must not be overwritten
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _strategy(kind: str, request: RetrainJob) -> str:
    strategy = request.strategy or ("rollout" if kind == "endpoint" else "in-place")
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown --strategy {strategy!r}", hint="give --strategy rollout or --strategy in-place")
    if strategy == "rollout" and kind != "endpoint":
        raise UsageError("a rollout deploys to an endpoint, not to one of its deployments",
                         hint="name the endpoint (leave out -d/--deployment), or pass --strategy in-place")
    if strategy == "in-place" and kind != "deployment":
        raise UsageError("an in-place update needs the deployment to update",
                         hint="name it with -d DEPLOYMENT (or its id), or pass --strategy rollout")
    if request.steps and strategy != "rollout":
        raise UsageError("--steps is for a rollout", hint="leave out --steps, or pass --strategy rollout")
    return strategy


def _serving(c: Any, target: Target, kind: str, endpoint: dict[str, Any]) -> dict[str, Any]:
    """The deployment the new model replaces: the target itself, or the endpoint's largest share."""
    from .definition import shares_of
    from .ids import endpoint_id

    if kind == "deployment":
        return dict(c.get_deployment(target.id))
    shares = shares_of(endpoint)
    if not shares:
        raise UsageError(f"no deployment of {endpoint_id(target.id)} takes traffic: there is nothing to retrain",
                         hint="deploy a model first (amlws mlv2 deployments), or retrain a deployment with -d DEP")
    source = max(sorted(shares), key=lambda n: shares[n])
    return dict(c.get_deployment(f"{endpoint_id(target.id)}/deployments/{source}"))


def _planned_inputs(c: Any, workspace: str, inputs: dict[str, str], job: str) -> dict[str, str]:
    """``--what-if``: where each local input would be uploaded (the path checked, nothing written)."""
    from . import jobs

    planned: dict[str, str] = {}
    store = None
    for name, value in inputs.items():
        if jobs.is_uri(value):
            planned[name] = value
            continue
        p = Path(value)
        if not p.exists():
            raise NotFoundError(f"input not found: {p}", hint="check the --input NAME=PATH path (or give an azureml:// or https:// URI)")
        store = store or jobs.default_datastore(c, workspace)
        planned[name] = f"azureml://datastores/{store.get('name')}/paths/{jobs.UPLOAD_PREFIX}/{job}/{p.name}{'' if p.is_file() else '/'}"
    return planned


def _score(scorer: Any, body: dict[str, Any], deployment: str | None) -> dict[str, Any]:
    return dict(scorer.score(body, deployment=deployment).to_dict())


def retrain(host: Host, target: Target, request: RetrainJob) -> dict[str, Any]:
    """Run the whole loop (module docstring) and return each step's result.

    Under ``--what-if`` nothing is uploaded, submitted, registered or deployed: the result is the job
    body, the registration and the deployment plan.

    :raises UsageError: (2) a bad strategy, job file, input name or model output; no confirmation possible.
    :raises NotFoundError: (3) the target, the earlier job or a local input does not exist.
    :raises OperationFailed: (1) the job failed; :raises OperationTimeout: (1) it ran past ``request.timeout``.
    :raises GateFailedError: (5) a gate failed or names a metric the job did not log: nothing registered.
    :raises VetoError: (5) an observer vetoed the deployment: nothing registered.
    Errors raised after a step completed carry the partial result in ``err.details["result"]``.
    """
    from amlws.gates import Metrics, gate_step, numbers, parse_gate
    from amlws.model import Definition
    from amlws.safety import change
    from amlws.studio.retrain import new_run_id

    from . import jobs, mlflow
    from .backend import client, kind_of_target, workspace_of
    from .definition import export_document, patch_model, shares_of
    from .ids import ModelRef, endpoint_id, parse_model_ref
    from .rollout import default_name, parse_steps, plan_rollout, run_rollout, splits_for
    from .scoring import Scorer, load_body

    settings = host.settings
    say = request.progress or _stderr
    what_if = bool(getattr(settings, "what_if", False))
    kind = kind_of_target(target)
    strategy = _strategy(kind, request)
    gates = [parse_gate(g) for g in request.gates]
    step_list = parse_steps(request.steps) if strategy == "rollout" else None
    if not what_if and request.confirm is None and not getattr(settings, "yes", False):
        # fail before a long training run rather than at the confirmation after it
        raise UsageError("retrain deploys a new model and needs confirmation, but stdin is not a terminal",
                         hint="pass --yes (or --what-if)")
    if request.job_file is not None and not Path(request.job_file).is_file():
        raise NotFoundError(f"job file not found: {request.job_file}", hint="check the --job-file path")
    smoke_body = load_body(request.smoke_file) if request.smoke_file else None
    workspace = workspace_of(target)
    output = request.model_output or DEFAULT_MODEL_OUTPUT
    ep_id = endpoint_id(target.id)
    out: dict[str, Any] = {"runId": new_run_id(), "target": target.id, "backend": target.backend, "status": "running",
                           "steps": {}, "job": None, "metrics": None, "modelVersion": None, "deployment": None}
    steps: dict[str, Any] = out["steps"]
    try:
        # preflight: a missing target or a bad model must fail before the job runs
        with client(settings, target) as c:
            endpoint = c.get_endpoint(ep_id)
            serving = _serving(c, target, kind, endpoint)
        dep_name = str(serving.get("name"))
        current_model = str((serving.get("properties") or {}).get("model") or "")
        model_name = request.model_name or (parse_model_ref(current_model).name if current_model else "")
        if not model_name:
            raise UsageError(f"deployment {dep_name} serves no model to take the name of", hint="pass --model-name NAME")
        steps["preflight"] = {"target": target.id, "backend": target.backend, "deployment": dep_name, "model": current_model,
                              "strategy": strategy}

        # the job: a job file or a copy of an earlier job, with the new inputs
        name, body = jobs.prepare(settings, workspace, job_file=request.job_file, from_job=request.from_job,
                                  inputs=None if what_if else request.inputs)
        outputs = (body.get("properties") or {}).get("outputs") or {}
        if output not in outputs:
            raise UsageError(f"the job has no output {output!r} to register",
                             hint="name its model output with --model-output (its outputs: " + (", ".join(sorted(outputs)) or "none") + ")")
        out["job"] = name
        uri = jobs.output_uri(name, output)

        if what_if:
            with client(settings, target) as c:
                jobs.with_inputs(body, _planned_inputs(c, workspace, request.inputs, name))
                version = c.next_version(workspace, model_name)
                ref = ModelRef(model_name, version)
                steps["upload"] = {"inputs": {k: (body["properties"]["inputs"][k].get("uri")) for k in request.inputs}}
                steps["job"] = {"jobId": name, "status": "planned",
                                "requests": [{"method": "PUT", "url": c.url(jobs.job_id(workspace, name)), "body": body}]}
                steps["gate"] = {"planned": [str(g) for g in gates]}
                steps["model"] = {"output": output, "uri": uri, "name": model_name, "version": version,
                                  **jobs_register_plan(settings, workspace, model_name, uri, name, output)}
                if strategy == "rollout":
                    shares = shares_of(endpoint)
                    to = default_name(dep_name, version)
                    assert step_list is not None
                    deploy: dict[str, Any] = {"strategy": "rollout", "endpoint": ep_id, "from": dep_name, "to": to,
                                              "model": ref.asset_id(workspace),
                                              "steps": [{"percent": p, "traffic": s} for p, s in
                                                        zip(step_list, splits_for(shares, dep_name, to, step_list))]}
                else:
                    patched = patch_model(export_document(serving), ref, workspace)
                    deploy = {"strategy": "in-place", "deployment": target.id, "model": ref.asset_id(workspace),
                              "requests": [{"method": "PUT", "url": c.url(target.id), "body": patched}]}
            steps["deploy"] = {"whatIf": True, **deploy}
            out.update(status="what_if", whatIf=True, modelVersion=f"{model_name}:{version}",
                       deployment={"strategy": strategy, "name": deploy.get("to") or dep_name})
            return out

        if request.inputs:
            steps["upload"] = {"inputs": {k: body["properties"]["inputs"][k].get("uri") or body["properties"]["inputs"][k].get("value")
                                          for k in request.inputs}}
        say(f"submitting job {name}")
        created = jobs.submit(settings, workspace, name, body)
        steps["job"] = {"jobId": name, "status": jobs.status_of(created)}
        try:
            # each status change goes to amlws.progress (stderr in the CLI); a caller's own reporter gets it too
            finished = jobs.wait(settings, workspace, name, timeout=request.timeout, keep_job=request.keep_job,
                                 on_status=None if request.progress is None else lambda s: say(f"job {name}: {s}"))
        except (AmlwsError, KeyboardInterrupt):
            try:
                steps["job"]["status"] = jobs.status_of(jobs.get_job(settings, workspace, name))
            except AmlwsError:
                steps["job"]["status"] = "unknown"
            raise
        finally:
            host.notify_retrain_job({"jobId": name, "status": steps["job"]["status"], "results": None, "details": None})
        steps["job"]["status"] = jobs.status_of(finished)
        host.notify_retrain_job({"jobId": name, "status": steps["job"]["status"], "results": {output: uri}, "details": None})

        # metrics and gates
        source: Metrics = mlflow.run_metrics(settings, workspace, name)
        metrics = numbers(source.values)
        out["metrics"] = metrics
        steps["evaluation"] = {"source": "mlflow", "run": name, "metrics": metrics}
        say("metrics: " + (", ".join(f"{k}={v:g}" for k, v in metrics.items()) or "none"))
        if gates:
            gate_step(source, gates, out)

        # smoke before; the observers asked before anything is registered
        deployment_header = dep_name if strategy == "in-place" else None
        ask = request.confirm
        change.ask_observers(host, change.Change(target, "retrain", Definition(target.backend, export_document(serving), target)))
        with client(settings, target) as c:
            if smoke_body is not None:
                scorer = Scorer(c, endpoint, settings)
                try:
                    steps["smokeBefore"] = _score(scorer, smoke_body, deployment_header)
                finally:
                    scorer.close()
            if ask is not None:
                ask(f"Register {model_name} from job {name} and deploy it to {target.id} ({strategy})?")
            say(f"registering {uri} as the next version of {model_name}")
            registered = jobs.register(host, workspace, name, output, model_name)
            version = str(registered.details.get("model", "")).rpartition(":")[2]
            steps["model"] = {"output": output, "uri": uri, "name": model_name, "version": version,
                              "id": registered.details.get("id")}
            out["modelVersion"] = f"{model_name}:{version}"
            note = f"job {name}, model {model_name}:{version}"
            reference = f"azureml:{model_name}:{version}"
            if strategy == "rollout":
                plan = plan_rollout(c, ep_id, reference, steps=step_list, smoke=smoke_body is not None)
                say(f"rolling {model_name}:{version} out to {ep_id}")
                data = run_rollout(host, target, plan, c, smoke_body=smoke_body, action="retrain", note=note, metrics=metrics)
                steps["deploy"] = data
                out["deployment"] = {"strategy": "rollout", "name": plan.name, "endpoint": ep_id, "from": plan.source,
                                     "traffic": data.get("trafficAfter")}
            else:
                live = host.get_definition(target)
                repointed = host.patch_model(live, reference)
                say(f"updating deployment {dep_name} to {model_name}:{version}")
                result = change.update(host, target, repointed, live=live, action="retrain", note=note, metrics=metrics)
                steps["deploy"] = result.to_dict()
                out["deployment"] = {"strategy": "in-place", "name": dep_name, "id": target.id, "verified": result.verified}
            out["status"] = "deployed"
            if smoke_body is not None:
                scorer = Scorer(c, c.get_endpoint(ep_id), settings)
                try:
                    after = _score(scorer, smoke_body, deployment_header if strategy == "in-place" else None)
                finally:
                    scorer.close()
                after["changed"] = after["predictions"] != steps["smokeBefore"]["predictions"]
                steps["smokeAfter"] = after
        return out
    except AmlwsError as exc:
        exc.details.setdefault("result", dict(out))
        raise


def jobs_register_plan(settings: Any, workspace: str, model_name: str, uri: str, job: str, output: str) -> dict[str, Any]:
    """``--what-if``: the registration request (:func:`.backend.plan_register_model`)."""
    from .backend import plan_register_model

    plan = plan_register_model(settings, workspace, model_name, uri, model_type="custom_model",
                               description=f"output {output} of job {job}")
    return {"requests": plan["requests"]}


@hookimpl
def amlws_retrain(target: Any, request: Any, settings: Any, host: Any) -> Any:
    """``amlws retrain ENDPOINT|DEPLOYMENT --job-file|--from-job`` for this backend's targets."""
    if target.backend != BACKEND:
        return None
    return retrain(host, target, request)
