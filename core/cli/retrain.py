"""CLI: ``amlws jobs submit|start|status|wait|cancel|run``, ``amlws invoke`` and ``amlws retrain``.

Thin commands over :mod:`amlws.studio.bes`, :mod:`amlws.studio.rrs` and :mod:`amlws.studio.retrain`. Each takes a web
service (any backend's target, or the options naming one) whose backend finds its BES/RRS URLs
and key (:func:`amlws.api.service_endpoint`), or an explicit ``--url``. API keys come from the
service, ``AMLWS_API_KEY``, the profile or a hidden prompt, never from the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .targets import TargetInput, with_target_options

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="The service's BES URL: ApiLocation + /jobs (AzureMLPS -SubmitJobRequestUrl), with or without ?api-version=2.0. "
        "Not needed with --target or -g/-n.",
    ),
]
#: ``amlws jobs ...``: the web service whose BES to call, as an option (JOB_ID is the positional argument).
JobsTargetOpt = Annotated[
    str | None,
    typer.Option("--target", help="The web service (a target of any backend, or the options naming one): amlws finds its BES URL and key."),
]
JobIdArg = Annotated[str, typer.Argument(help="The BES job id (from jobs submit).")]
ConfigFileOpt = Annotated[Path | None, typer.Option("--job-config-file", help="Job config JSON file (AzureMLPS -JobConfigFile).")]
ConfigStringOpt = Annotated[str | None, typer.Option("--job-config-string", help="Job config as a JSON string (AzureMLPS -JobConfigString).")]
InputOpt = Annotated[list[str] | None, typer.Option("--input-blob", help="NAME=REF: a blob URL with SAS, or container/blob (with the storage connection string). Repeatable.")]
OutputOpt = Annotated[list[str] | None, typer.Option("--output-blob", help="NAME=REF for an output (.ilearner, .csv, .tsv, .arff). Repeatable.")]
ParamOpt = Annotated[list[str] | None, typer.Option("--global-param", "-p", help="KEY=VALUE web service parameter. Repeatable.")]
PollOpt = Annotated[float, typer.Option("--poll-interval", help="First wait between status polls in seconds (grows 1.5x up to 30s).", min=0.0)]
KeepJobOpt = Annotated[bool, typer.Option("--keep-job", help="On --timeout or Ctrl-C, leave the remote job running instead of cancelling it.")]
ResultsFileOpt = Annotated[
    Path | None,
    typer.Option("--results-file", help="Also write the full status (with SAS tokens) here, mode 0600, for patch-ilearner --bes-result."),
]


def _ctx() -> Any:
    from .application import get_context

    return get_context()


def _endpoint(ctx: Any, kind: str, url: str | None, target: TargetInput, *, include_key: bool = True) -> tuple[str, str | None]:
    """The BES/RRS URL and key: ``--url`` (key from the settings) or the web service's own."""
    from ..api import service_endpoint

    return service_endpoint(ctx.host, kind, url=url, target=target.text, backend=target.backend,
                            options=target.options, include_key=include_key)


def _client(ctx: Any, url: str | None, target: TargetInput, poll_interval: float = 2.0) -> Any:
    from ..studio.bes import BesClient

    found, key = _endpoint(ctx, "bes", url, target)
    return BesClient.from_url(found, key, settings=ctx.settings, poll_interval=poll_interval, interactive=ctx.settings.interactive)


def _plan_url(ctx: Any, url: str | None, target: TargetInput, path: str) -> str:
    """``--what-if``: the BES URL a request would go to (the service is read, its key is not)."""
    from ..studio.bes import api_location_from_url

    return api_location_from_url(_endpoint(ctx, "bes", url, target, include_key=False)[0]) + path


def _config(ctx: Any, file: Path | None, string: str | None, inputs: Any, outputs: Any, params: Any) -> dict[str, Any]:
    from ..azure.blob import storage_connection_string
    from ..studio.jobconfig import build_job_config, load_job_config, validate_job_config

    base = load_job_config(file=file, string=string)
    needs_storage = any("://" not in v.partition("=")[2] for v in (inputs or []) + (outputs or []))
    cs = storage_connection_string(ctx.settings, required=needs_storage)
    merged = build_job_config(base, inputs=inputs, outputs=outputs, global_parameters=params, connection_string=cs)
    return validate_job_config(merged, source=str(file) if file else "--job-config-string" if string else "job config")


def _emit_status(ctx: Any, status: Any, results_file: Path | None) -> None:
    if results_file is not None:
        import json

        from ..fsutil import atomic_write_text

        atomic_write_text(results_file, json.dumps(status.to_raw_dict(), indent=2) + "\n", mode=0o600)
    data = status.to_dict()
    ctx.emit(data, table=lambda d: _status_table(d))


def _status_table(data: dict[str, Any]) -> None:
    from ..output import render_table

    rows = {"jobId": data["jobId"], "status": data["status"]}
    for name, ref in (data.get("results") or {}).items():
        if isinstance(ref, dict):
            rows[f"output {name}"] = (ref.get("BaseLocation") or "") + (ref.get("RelativeLocation") or "")
    if data.get("details"):
        rows["details"] = data["details"]
    render_table(rows)


def _run_with_progress(client: Any, fn: Any, label: str) -> Any:
    from ..progress import pausing
    from ..studio.bes import job_progress

    client.ask = pausing(client.ask)
    return fn(job_progress(label))


def register(app: typer.Typer) -> None:
    jobs = typer.Typer(help="Batch Execution Service jobs: train and batch-score (Invoke-AmlWebServiceBESEndpoint).\n\nExamples:\n    Submit, start and wait in one step\n        amlws jobs run --url https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC/jobs --job-config-file job.json --results-file status.json", no_args_is_help=True)
    app.add_typer(jobs, name="jobs")

    @jobs.command("submit")
    @with_target_options(target=JobsTargetOpt)
    def jobs_submit(
        target: TargetInput,
        url: UrlOpt = None,
        job_config_file: ConfigFileOpt = None,
        job_config_string: ConfigStringOpt = None,
        input: InputOpt = None,
        output: OutputOpt = None,
        global_param: ParamOpt = None,
    ) -> None:
        """Create a BES job (not started); prints its id. The POST is never retried.

        Examples:
            Create a training job on uploaded data
                amlws jobs submit --url https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC/jobs --input-blob input1=amlws-retrain/train.csv --output-blob output1=amlws-retrain/model.ilearner
        """
        ctx = _ctx()
        config = _config(ctx, job_config_file, job_config_string, input, output, global_param)
        if ctx.settings.what_if:
            _emit_submit_plan(ctx, _plan_url(ctx, url, target, "/jobs?api-version=2.0"), config)
            return
        job_id = _client(ctx, url, target).submit(config)
        ctx.emit({"jobId": job_id})

    @jobs.command("start")
    @with_target_options(target=JobsTargetOpt)
    def jobs_start(job_id: JobIdArg, target: TargetInput, url: UrlOpt = None) -> None:
        """Start a submitted BES job.

        Examples:
            Start the job jobs submit created
                amlws jobs start --url https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC/jobs JOB_ID
        """
        ctx = _ctx()
        if ctx.settings.what_if:
            ctx.emit({"whatIf": True, "method": "POST", "url": _plan_url(ctx, url, target, f"/jobs/{job_id}/start?api-version=2.0")})
            return
        _client(ctx, url, target).start(job_id)
        ctx.emit({"jobId": job_id, "started": True})

    @jobs.command("status")
    @with_target_options(target=JobsTargetOpt)
    def jobs_status(job_id: JobIdArg, target: TargetInput, url: UrlOpt = None, results_file: ResultsFileOpt = None) -> None:
        """Show a BES job's status and outputs (SAS signatures redacted).

        Examples:
            Status, and the full results (with SAS) for patch-ilearner
                amlws jobs status --url https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC/jobs JOB_ID
                amlws jobs status --url https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC/jobs JOB_ID --results-file status.json
        """
        ctx = _ctx()
        _emit_status(ctx, _client(ctx, url, target).status(job_id), results_file)

    @jobs.command("wait")
    @with_target_options(target=JobsTargetOpt)
    def jobs_wait(
        job_id: JobIdArg, target: TargetInput, url: UrlOpt = None, poll_interval: PollOpt = 2.0, keep_job: KeepJobOpt = False,
        results_file: ResultsFileOpt = None,
    ) -> None:
        """Wait for a BES job to finish (Failed and Cancelled are errors). --timeout cancels it unless --keep-job.

        Examples:
            Wait at most an hour, leaving the job running after that
                amlws jobs wait --url https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC/jobs JOB_ID --timeout 3600 --keep-job
        """
        ctx = _ctx()
        client = _client(ctx, url, target, poll_interval)
        status = _run_with_progress(
            client, lambda cb: client.wait(job_id, timeout=ctx.settings.timeout(), keep_job=keep_job, progress=cb), "BES job"
        )
        _emit_status(ctx, status, results_file)

    @jobs.command("cancel")
    @with_target_options(target=JobsTargetOpt)
    def jobs_cancel(job_id: JobIdArg, target: TargetInput, url: UrlOpt = None) -> None:
        """Cancel a running BES job, or delete a finished one (DELETE).

        Examples:
            Cancel without a prompt
                amlws jobs cancel --url https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC/jobs JOB_ID --yes
        """
        ctx = _ctx()
        if ctx.settings.what_if:
            ctx.emit({"whatIf": True, "method": "DELETE", "url": _plan_url(ctx, url, target, f"/jobs/{job_id}?api-version=2.0")})
            return
        ctx.confirm(f"Cancel BES job {job_id}?")
        _client(ctx, url, target).cancel(job_id)
        ctx.emit({"jobId": job_id, "cancelled": True})

    @jobs.command("run")
    @with_target_options(target=JobsTargetOpt)
    def jobs_run(
        target: TargetInput,
        url: UrlOpt = None,
        job_config_file: ConfigFileOpt = None,
        job_config_string: ConfigStringOpt = None,
        input: InputOpt = None,
        output: OutputOpt = None,
        global_param: ParamOpt = None,
        poll_interval: PollOpt = 2.0,
        keep_job: KeepJobOpt = False,
        results_file: ResultsFileOpt = None,
    ) -> None:
        """Submit, start and wait for a BES job (Invoke-AmlWebServiceBESEndpoint).

        Examples:
            Train on a local config and save the results for patch-ilearner
                amlws jobs run --url https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC/jobs --job-config-file job.json --results-file status.json
        """
        ctx = _ctx()
        config = _config(ctx, job_config_file, job_config_string, input, output, global_param)
        if ctx.settings.what_if:
            _emit_submit_plan(ctx, _plan_url(ctx, url, target, "/jobs?api-version=2.0"), config)
            return
        client = _client(ctx, url, target, poll_interval)
        status = _run_with_progress(
            client, lambda cb: client.run(config, timeout=ctx.settings.timeout(), keep_job=keep_job, progress=cb,
                                  on_submitted=lambda j: sys.stderr.write(f"submitted BES job {j}\n")),
            "BES job",
        )
        _emit_status(ctx, status, results_file)

    blob_app = typer.Typer(help="Blob storage for retraining data and BES outputs (connection string: AMLWS_STORAGE_CONNECTION_STRING).\n\nExamples:\n    Upload training data\n        amlws blob upload train.csv --container amlws-retrain", no_args_is_help=True)
    app.add_typer(blob_app, name="blob")

    @blob_app.command("upload")
    def blob_upload(
        file: Annotated[Path, typer.Argument(help="Local file (training data CSV).")],
        container: Annotated[str | None, typer.Option("--container", help="Container (setting storage_container; default amlws-retrain).")] = None,
        blob_name: Annotated[str | None, typer.Option("--blob-name", help="Blob name (default: the file name).")] = None,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing blob.")] = False,
    ) -> None:
        """Upload a local file; prints its container/blob for jobs --input-blob NAME=container/blob.

        Examples:
            Upload training data
                amlws blob upload train.csv --container amlws-retrain --overwrite
        """
        from ..azure.blob import DEFAULT_CONTAINER, storage_connection_string, upload_file

        ctx = _ctx()
        cont = container or ctx.settings.get("storage_container") or DEFAULT_CONTAINER
        name = blob_name or file.name
        if ctx.settings.what_if:
            ctx.emit({"whatIf": True, "wouldUpload": str(file), "container": cont, "blob": name})
            return
        loc = upload_file(file, connection_string=storage_connection_string(ctx.settings), container=cont, blob_name=name,
                          overwrite=overwrite, missing_hint="check the FILE argument of amlws blob upload")
        ctx.emit({"container": cont, "blob": name, "relativeLocation": loc.relative_location, "url": loc.blob_url})

    @blob_app.command("download")
    def blob_download(
        source: Annotated[str | None, typer.Argument(help="Blob URL (with SAS) or container/blob.")] = None,
        bes_result: Annotated[Path | None, typer.Option("--bes-result", help="A jobs --results-file: download one of its outputs.")] = None,
        output_name: Annotated[str | None, typer.Option("--output-name", help="Which BES output (with --bes-result).")] = None,
        output_file: Annotated[Path | None, typer.Option("--output-file", "-f", help="Write here (default: stdout).")] = None,
    ) -> None:
        """Download a blob, e.g. a BES job's evaluation output.

        Examples:
            Download a BES job's evaluation output
                amlws blob download --bes-result status.json --output-name output2 --output-file evaluation.csv
            Download by container/blob to stdout
                amlws blob download amlws-retrain/retrain/run1/evaluation.csv
        """
        from ..azure.blob import download, storage_connection_string

        ctx = _ctx()
        loc = _location_arg(ctx, source, bes_result, output_name)
        data = download(loc, connection_string=storage_connection_string(ctx.settings, required=not loc.sas_blob_token))
        if output_file is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return
        from ..fsutil import atomic_write_bytes

        atomic_write_bytes(output_file, data)
        ctx.emit({"file": str(output_file), "bytes": len(data)})

    @blob_app.command("sas")
    def blob_sas_cmd(
        source: Annotated[str, typer.Argument(help="Blob URL (in the connection string's account) or CONTAINER/BLOB.")],
        permissions: Annotated[str, typer.Option("--permissions", help="SAS permission letters as az storage blob generate-sas (r, w, c, d, a, ...).")] = "r",
        expiry: Annotated[str | None, typer.Option("--expiry", help="A duration (s, m, h, d or w: 90s, 30m, 1h, 7d, 2w) or a UTC time (2027-01-31T12:00Z). Default: 1h.")] = None,
        https_only: Annotated[bool, typer.Option("--https-only", help="Only allow the token over https (spr=https).")] = False,
    ) -> None:
        """Make a SAS for one blob with the storage account key (az storage blob generate-sas --full-uri).

        Prints the URL with its SAS (-o json: {url, sasToken, expiry}): the token is shown because
        you asked for it; it never goes to logs.

        Examples:
            A one-hour read SAS for a trained model, to roll a web service back to it
                amlws blob sas https://acct.blob.core.windows.net/models/run7/model.ilearner
            A week-long read/list SAS over https only, as JSON
                amlws blob sas models/run7/model.ilearner --permissions rl --expiry 7d --https-only -o json
        """
        from ..azure.blob import blob_sas, parse_expiry, storage_connection_string

        ctx = _ctx()
        when = parse_expiry(expiry) if expiry else None
        data = blob_sas(storage_connection_string(ctx.settings), source, permissions=permissions, expiry=when, https_only=https_only)
        ctx.emit(data, table=_sas_table)

    @app.command("evaluate")
    def evaluate_cmd(
        source: Annotated[str | None, typer.Argument(help="Evaluate Model CSV: a local file, a blob URL (with SAS) or container/blob.")] = None,
        bes_result: Annotated[Path | None, typer.Option("--bes-result", help="A jobs --results-file: read the evaluation output from it.")] = None,
        output_name: Annotated[str | None, typer.Option("--output-name", help="The evaluation output's name (with --bes-result), e.g. output2.")] = None,
        gate: Annotated[list[str] | None, typer.Option("--gate", help='Metric gate, e.g. "Accuracy>=0.85". Repeatable; exit 5 when one fails.')] = None,
    ) -> None:
        """Print an evaluation output's metrics and check gates (exit 5 when the model is worse).

        Examples:
            Gate a local Evaluate Model CSV (exit 5 when it fails)
                amlws evaluate evaluation.csv --gate "Accuracy>=0.85" --gate "AUC>=0.9"
            Read the evaluation output of a BES job
                amlws evaluate --bes-result status.json --output-name output2 -o json
        """
        from ..evaluation import check_gates, parse_evaluation, parse_gate

        ctx = _ctx()
        gates = [parse_gate(g) for g in gate or []]
        if source and Path(source).is_file() and bes_result is None:
            from ..fsutil import read_text

            text: Any = read_text(source, what="evaluation file")
        else:
            from ..azure.blob import download, storage_connection_string

            loc = _location_arg(ctx, source, bes_result, output_name)
            text = download(loc, connection_string=storage_connection_string(ctx.settings, required=not loc.sas_blob_token))
        evaluation = parse_evaluation(text)
        data: dict[str, Any] = evaluation.to_dict()
        try:
            data["gates"] = check_gates(evaluation, gates) if gates else []
        except Exception as exc:
            from ..errors import GateFailedError

            if isinstance(exc, GateFailedError):
                data["gates"] = exc.details.get("gates", [])
                ctx.emit(data, table=lambda d: _table(d["metrics"]))
            raise
        ctx.emit(data, table=lambda d: _table(d["metrics"]))

    def _invoked_by_backend(ctx: Any, target: Any, input_file: str | None, input_json: str | None) -> bool:
        """A backend that scores its own way (``amlws_invoke``: e.g. an online endpoint's scoringUri) answers
        ``amlws invoke TARGET``; ``False``: the target's RRS is used, as for every Studio web service."""
        t = target.resolve(ctx)
        if not ctx.host.implements(t.backend, "amlws_invoke"):
            return False
        if input_json is not None and input_file is not None:
            from ..errors import UsageError

            raise UsageError("give --input-file or --input-json, not both", hint='drop one of the two options')
        if input_json is not None:
            text, source = input_json, "--input-json"
        elif input_file in (None, "-"):
            text, source = sys.stdin.read(), "<stdin>"
        else:
            from ..fsutil import read_text

            text, source = read_text(input_file, what="input file"), str(input_file)
        data = ctx.host.invoke(t, text, source=source, options=dict(target.options))
        ctx.emit(data)
        return True

    @app.command("invoke")
    @with_target_options
    def invoke_cmd(
        target: TargetInput,
        url: Annotated[str | None, typer.Option("--url", help="The scoring service's ApiLocation (or its …/execute URL), instead of TARGET.")] = None,
        input_file: Annotated[str | None, typer.Option("--input-file", "-i", help="JSON or CSV input; - or omitted: stdin (AzureMLPS -InputJsonFile).")] = None,
        input_json: Annotated[str | None, typer.Option("--input-json", help="The input as a JSON string (AzureMLPS -InputJsonText).")] = None,
        input_name: Annotated[str, typer.Option("--input-name", help="Input name for CSV/DataTable input.")] = "input1",
        global_param: ParamOpt = None,
        output_json_file: Annotated[Path | None, typer.Option("--output-json-file", help="Write the raw response here (AzureMLPS -OutputJsonFile).")] = None,
    ) -> None:
        """Score rows with the Request-Response Service (Invoke-AmlWebServiceRRSEndpoint).

        TARGET is the web service (any backend's target, or the options naming one): amlws finds its RRS URL
        and key. Or give --url, with the key in AMLWS_API_KEY. A backend whose services score their own way
        (an online endpoint's scoring URI; its backend's docs say which input it takes) scores TARGET itself.

        Examples:
            Score a CSV file; print the raw response too
                amlws invoke --url https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC2 --input-file rows.csv --output-json-file response.json
            Score one row given as JSON
                amlws invoke --url https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC2 --input-json '{"Inputs": {"input1": [{"age": 39}]}}' -o json
        """
        import io

        from ..studio import rrs
        from ..studio.jobconfig import _split_pair

        ctx = _ctx()
        if url is None and target.given and _invoked_by_backend(ctx, target, input_file, input_json):
            return
        params = dict(_split_pair(p, "--global-param") for p in (global_param or []))
        if input_json is not None and input_file is not None:
            from ..errors import UsageError

            raise UsageError("give --input-file or --input-json, not both", hint='drop one of the two options')
        if input_json is not None:
            body = rrs.load_input(None, input_name=input_name, global_parameters=params, stdin=io.StringIO(input_json))
        else:
            body = rrs.load_input(input_file, input_name=input_name, global_parameters=params)
        found, key = _endpoint(ctx, "rrs", url, target, include_key=not ctx.settings.what_if)
        if ctx.settings.what_if:
            ctx.emit({"whatIf": True, "method": "POST", "url": rrs.execute_url(found, body), "body": rrs.request_body(found, body)})
            return
        result = rrs.invoke(found, key or "", body, settings=ctx.settings)
        if output_json_file is not None:
            from .. import api

            api.write_json(output_json_file, result.raw, force=ctx.settings.yes, settings=ctx.settings)
        # -o tsv: the scored rows, one line each in the output's column order (the nested
        # result would print one empty field); -o json keeps the result's shape.
        ctx.emit(result.to_dict(), table=lambda _: _print_tables(result.outputs),
                 tsv=lambda _: [row for table in result.outputs.values() for row in table.rows])

    @app.command("retrain")
    @with_target_options(
        target=Annotated[str | None, typer.Option("--target", help="Service to update: a target of any backend (amlws plugins lists them).")],
    )
    def retrain_cmd(
        training_service: Annotated[str | None, typer.Option("--training-service", help="The training web service (a target of any backend), or its BES URL (ApiLocation + /jobs). Or retrain from a training job: --job-file / --from-job.")] = None,
        target: TargetInput = None,  # type: ignore[assignment]  # filled in by with_target_options
        data: Annotated[str | None, typer.Option("--data", help="New training data: a local CSV (uploaded), a blob URL with SAS, or container/blob.")] = None,
        gate: Annotated[list[str] | None, typer.Option("--gate", help='Metric gate, e.g. "Accuracy>=0.85" (>= <= > <). Repeatable; all must pass.')] = None,
        evaluation_output: Annotated[str | None, typer.Option("--evaluation-output", help="Output writing Evaluate Model's CSV (e.g. output2).")] = None,
        model_output: Annotated[str | None, typer.Option("--model-output", help="Output writing the trained model (a training service: default output1; a training job: the backend's default, e.g. model).")] = None,
        input_name: Annotated[str, typer.Option("--input-name", help="The training service's Web Service Input name.")] = "input1",
        container: Annotated[str | None, typer.Option("--container", help="Blob container for data and outputs (setting storage_container; default amlws-retrain).")] = None,
        blob_prefix: Annotated[str, typer.Option("--blob-prefix", help="Folder for each run's blobs: PREFIX/RUN-ID/...")] = "retrain",
        job_config_file: ConfigFileOpt = None,
        job_config_string: ConfigStringOpt = None,
        global_param: ParamOpt = None,
        resource: Annotated[str | None, typer.Option("--resource", "--asset", help="Which trained model to replace, when the definition has several (its resource or asset name).")] = None,
        smoke_input: Annotated[Path | None, typer.Option("--smoke-input", help="RRS input scored before and after the update.")] = None,
        smoke_url: Annotated[str | None, typer.Option("--smoke-url", help="Scoring service RRS URL (default: the updated service's own, with its key). Key: AMLWS_SCORING_API_KEY.")] = None,
        poll_interval: PollOpt = 2.0,
        keep_job: KeepJobOpt = False,
        job_target: Annotated[str | None, typer.Argument(metavar="TARGET", show_default=False, help="The service to retrain from a training job (--job-file/--from-job): a target of any backend whose service runs jobs, e.g. an online endpoint or deployment.")] = None,
        job_file: Annotated[Path | None, typer.Option("--job-file", help="Training job: a job definition file to submit (with TARGET).")] = None,
        from_job: Annotated[str | None, typer.Option("--from-job", help="Training job: copy this earlier job's definition under a new name (with TARGET).")] = None,
        job_input: Annotated[list[str] | None, typer.Option("--input", help="Training job: NAME=URI_OR_PATH replaces an input; a local path is uploaded. Repeatable.")] = None,
        model_name: Annotated[str | None, typer.Option("--model-name", help="Training job: the model to register a new version of (default: the one TARGET serves).")] = None,
        strategy: Annotated[str | None, typer.Option("--strategy", help="Training job: rollout (blue/green; default for an endpoint) or in-place (default for a deployment).")] = None,
        steps: Annotated[str | None, typer.Option("--steps", help="Training job, rollout: percentages of the traffic moved at each step, e.g. 10,50,100.")] = None,
        smoke_file: Annotated[Path | None, typer.Option("--smoke-file", help="Training job: rows (CSV or JSON) scored before and after the deployment.")] = None,
        deploy_what_if: Annotated[bool, typer.Option("--deploy-what-if", help="Upload, train and evaluate, then only show the update.")] = False,
    ) -> None:
        """Upload data, train, evaluate, gate, and deploy the new model, in one command.

        Two forms. --training-service: a Studio-style training web service runs a BES job whose
        Evaluate Model output is gated and whose .ilearner is patched into --target. TARGET with
        --job-file or --from-job: the target's own service runs a training job (inputs uploaded),
        its logged metrics are gated, its model output is registered as a new version and deployed
        (rollout or in-place), by the target's backend. Either way a failing gate is exit 5 with
        nothing deployed, and history records the metrics (amlws history TARGET --metrics).

        Examples:
            Retrain and deploy to a web service when accuracy holds
                amlws retrain --training-service https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC/jobs --target TARGET --data train.csv --evaluation-output output2 --gate "Accuracy>=0.85" --yes
            Train and evaluate, then only show the update
                amlws retrain --training-service https://ussouthcentral.services.azureml.net/workspaces/WS/services/SVC/jobs --target TARGET --data train.csv --deploy-what-if
            Retrain an online endpoint like its last job, on new data, and roll the model out when r2 holds
                amlws retrain -g RG -w WS -e my-endpoint --from-job train-1 --input train=new.csv --gate "r2>=0.8" --yes
            The job body, the registration and the deployment plan; nothing sent
                amlws retrain -g RG -w WS -e my-endpoint -d blue --job-file job.json --what-if
        """
        if job_file is not None or from_job is not None:
            _retrain_job(target, job_target, training_service=training_service, job_file=job_file, from_job=from_job,
                         inputs=job_input, model_output=model_output, model_name=model_name, gates=gate, strategy=strategy,
                         steps=steps, smoke_file=smoke_file, keep_job=keep_job,
                         studio={"--data": data, "--evaluation-output": evaluation_output, "--container": container,
                                 "--blob-prefix": None if blob_prefix == "retrain" else blob_prefix,
                                 "--job-config-file": job_config_file, "--job-config-string": job_config_string,
                                 "--global-param": global_param, "--resource": resource, "--smoke-input": smoke_input,
                                 "--smoke-url": smoke_url, "--input-name": None if input_name == "input1" else input_name,
                                 "--deploy-what-if": deploy_what_if or None})
            return
        _refuse(("--input", job_input), ("--model-name", model_name), ("--strategy", strategy), ("--steps", steps),
                ("--smoke-file", smoke_file), why="is for a retrain from a training job (--job-file or --from-job)")
        if training_service is None:
            from ..errors import UsageError

            raise UsageError("retrain needs a training service or a training job",
                             hint="pass --training-service SERVICE (a BES training web service) or TARGET with --job-file FILE / --from-job NAME")
        if job_target is not None:
            if target.text is not None:
                from ..errors import UsageError

                raise UsageError("give the service to update once", hint="pass TARGET or --target, not both")
            target = target._replace(text=job_target)
        model_output = model_output or "output1"
        from ..azure.blob import storage_connection_string
        from ..errors import GateFailedError
        from ..studio.jobconfig import _split_pair, load_job_config
        from ..studio.retrain import RetrainRequest, retrain

        ctx = _ctx()
        from ..api import service_endpoint

        # the training service's BES URL and key, found once (a web service is read here, before any upload)
        training_url, api_key = service_endpoint(ctx.host, "bes", url=training_service, include_key=not ctx.settings.what_if)
        request = RetrainRequest(
            training_url=training_url,
            target=target.text,
            target_options={k: v for k, v in target.options.items() if v is not None},
            backend=target.backend,
            data=data,
            input_name=input_name,
            model_output=model_output,
            evaluation_output=evaluation_output,
            gates=list(gate or []),
            container=container,
            blob_prefix=blob_prefix,
            job_config=load_job_config(file=job_config_file, string=job_config_string),
            global_parameters=dict(_split_pair(p, "--global-param") for p in (global_param or [])),
            selector=resource,
            smoke_input=str(smoke_input) if smoke_input else None,
            smoke_url=smoke_url,
            keep_job=keep_job,
            timeout=ctx.settings.timeout(),
            deploy_what_if=deploy_what_if,
        )
        from ..progress import pausing
        from ..studio.bes import BesClient, job_progress

        bes = None
        if api_key:
            bes = BesClient.from_url(training_url, api_key, settings=ctx.settings, poll_interval=poll_interval, interactive=ctx.settings.interactive)
            bes.ask = pausing(bes.ask)
        try:
            result = retrain(
                ctx.host, request, api_key=api_key or "", storage_connection_string=storage_connection_string(ctx.settings),
                bes=bes, progress=job_progress("training job"), confirm=ctx.confirm if (ctx.settings.yes or ctx.settings.interactive) else None,
            )
        except GateFailedError as exc:
            if "result" in exc.details:
                ctx.emit(exc.details["result"], table=_print_retrain)
            raise
        ctx.emit(result, table=_print_retrain)


def _refuse(*given: tuple[str, Any], why: str) -> None:
    """Exit 2 naming the first option given (not ``None``/empty) that this form of the command does not take."""
    for flag, value in given:
        if value not in (None, [], False):
            from ..errors import UsageError

            raise UsageError(f"{flag} {why}", hint=f"leave out {flag}")


def _retrain_job(target: TargetInput, service: str | None, *, training_service: str | None, job_file: Path | None,
                 from_job: str | None, inputs: list[str] | None, model_output: str | None, model_name: str | None,
                 gates: list[str] | None, strategy: str | None, steps: str | None, smoke_file: Path | None,
                 keep_job: bool, studio: dict[str, Any]) -> None:
    """``amlws retrain TARGET --job-file|--from-job``: the target's backend runs the whole retrain
    (``amlws_retrain``, :meth:`amlws.host.Host.retrain`)."""
    from ..errors import GateFailedError, UsageError
    from ..model import RetrainJob, parse_inputs

    _refuse(("--training-service", training_service), *studio.items(), why="is for a retrain by a training service (--training-service)")
    if job_file is not None and from_job is not None:
        raise UsageError("give one of --job-file and --from-job", hint="--job-file JOB.json, or --from-job NAME to copy an earlier job")
    if service is not None and target.text is not None:
        raise UsageError("give the service to retrain once", hint="pass TARGET or --target, not both")
    ctx = _ctx()
    resolved = ctx.resolve(service if service is not None else target.text, target.backend, **target.options)
    pairs = parse_inputs(inputs)

    request = RetrainJob(
        job_file=str(job_file) if job_file is not None else None, from_job=from_job, inputs=pairs, model_output=model_output,
        model_name=model_name, gates=list(gates or []), strategy=strategy, steps=steps,
        smoke_file=str(smoke_file) if smoke_file is not None else None, keep_job=keep_job, timeout=ctx.settings.timeout(),
        confirm=ctx.confirm if (ctx.settings.yes or ctx.settings.interactive) else None,
    )
    try:
        result = ctx.host.retrain(resolved, request)
    except GateFailedError as exc:
        if "result" in exc.details:
            ctx.emit(exc.details["result"], table=_print_retrain)
        raise
    if result is None:
        raise UsageError(f"the {resolved.backend} backend cannot retrain {resolved.id} from a training job",
                         hint="retrain it with --training-service SERVICE --target TARGET (a BES training web service)")
    ctx.emit(result, table=_print_retrain)


def _table(data: Any) -> None:
    from ..output import render_table

    render_table(data)


def _sas_table(data: dict[str, Any]) -> None:
    """The URL alone on stdout, one line to copy (a folded table cell cannot be); the expiry on stderr."""
    sys.stdout.write(data["url"] + "\n")
    sys.stderr.write(f"expires {data['expiry']}\n")


def _location_arg(ctx: Any, source: str | None, bes_result: Path | None, output_name: str | None) -> Any:
    """A blob location from a URL, ``container/blob`` (storage account from settings), or a BES result file + output."""
    from ..errors import UsageError

    if (source is None) == (bes_result is None):
        raise UsageError("give a blob (URL or container/blob) or --bes-result FILE --output-name NAME",
            hint='give exactly one: a blob URL, CONTAINER/BLOB, or --bes-result FILE with --output-name')
    if bes_result is not None:
        from .. import api

        if not output_name:
            raise UsageError("--bes-result needs --output-name", hint="the BES output to read, e.g. output2")
        return api.model_location_from(bes_result=str(bes_result), output_name=output_name)
    from ..model import ModelLocation

    assert source is not None  # exactly one of source and bes_result, checked above
    if source.startswith(("https://", "http://")):
        return ModelLocation.from_uri(source)
    from ..azure.blob import StorageAccount, storage_connection_string

    account = StorageAccount.from_connection_string(storage_connection_string(ctx.settings))
    container, _, blob = source.lstrip("/").partition("/")
    if not blob:
        raise UsageError(f"not container/blob: {source!r}", hint="write it as CONTAINER/BLOB, or give the blob URL")
    return account.location(container, blob)


def _print_tables(outputs: dict[str, Any]) -> None:
    from ..output import render_table

    for name, table in outputs.items():
        render_table([dict(zip(map(str, table.columns), row)) for row in table.rows], columns=[str(c) for c in table.columns], title=name)


def _print_retrain(result: dict[str, Any]) -> None:
    from ..output import format_number, render_table

    steps = result.get("steps", {})
    rows: dict[str, Any] = {"run": result.get("runId"), "status": result.get("status"), "target": result.get("target")}
    up = steps.get("upload") or {}
    if up.get("url") or up.get("blob"):
        rows["uploaded"] = up.get("url") or f"{up.get('container')}/{up.get('blob')}"
    for name, uri in ((steps.get("upload") or {}).get("inputs") or {}).items():
        rows[f"input {name}"] = uri
    job = steps.get("job") or {}
    if job.get("jobId"):
        rows["job"] = f"{job['jobId']} ({job.get('status')})"
    if steps.get("model"):
        rows["model"] = steps["model"]["uri"]
    if result.get("modelVersion"):
        rows["model version"] = result["modelVersion"]
    ev = steps.get("evaluation")
    if ev:
        rows["metrics"] = ", ".join(f"{k}={format_number(v)}" for k, v in ev["metrics"].items())
    gate = steps.get("gate")
    if gate:
        rows["gate"] = ("passed: " if gate["passed"] else "FAILED: ") + "; ".join(
            f"{g['metric']}={format_number(g['value'])} {g['op']} {format_number(g['threshold'])}" for g in gate["gates"]
        )
    dep = steps.get("deploy")
    if dep:
        rows["deploy"] = "planned (what-if)" if dep.get("whatIf") else f"verified={dep.get('verified', True)}"
    where = result.get("deployment") or {}
    if where.get("strategy"):
        rows["deployment"] = f"{where.get('name')} ({where['strategy']})"
    before, after = steps.get("smokeBefore"), steps.get("smokeAfter")
    if after and before:
        rows["smoke test"] = "predictions changed" if after.get("changed") else "predictions unchanged"
    elif before and "outputs" in before:
        rows["smoke test"] = ", ".join(f"{n}: {len(t['rows'])} rows scored before" for n, t in before["outputs"].items())
    render_table(rows)
    if after and before and "outputs" in before:
        _print_smoke(before["outputs"], after["outputs"])


def _print_smoke(before: dict[str, Any], after: dict[str, Any]) -> None:
    """The smoke test's predictions before and after the update, side by side, one table per output.

    Only the columns that changed are shown (the scored ones); when none changed, the last
    column (where Score Model puts its scores) is shown.
    """
    from ..output import render_table

    for name, old in before.items():
        new = after.get(name) or {"columns": [], "rows": []}
        columns = [str(c) for c in old["columns"]]
        n = max(len(old["rows"]), len(new["rows"]))

        def cell(rows: list[Any], r: int, c: int) -> Any:
            return rows[r][c] if r < len(rows) and c < len(rows[r]) else None

        changed = [c for c in range(len(columns)) if any(cell(old["rows"], r, c) != cell(new["rows"], r, c) for r in range(n))]
        shown = changed or ([len(columns) - 1] if columns else [])
        table = []
        for r in range(n):
            row: dict[str, Any] = {"row": r + 1}
            for c in shown:
                row[f"{columns[c]} before"] = cell(old["rows"], r, c)
                row[f"{columns[c]} after"] = cell(new["rows"], r, c)
            row["changed"] = any(cell(old["rows"], r, c) != cell(new["rows"], r, c) for c in range(len(columns)))
            table.append(row)
        render_table(table, columns=list(table[0]) if table else None, title=f"smoke test {name}: before / after")


def _emit_submit_plan(ctx: Any, url: str, config: dict) -> None:
    """--what-if for a job submission: the POST that would be sent (to ``url``), secrets redacted."""
    from ..studio.jobconfig import redacted

    ctx.emit({"whatIf": True, "method": "POST", "url": url, "body": redacted(config)})
