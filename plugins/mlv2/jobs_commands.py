"""``amlws mlv2 jobs submit|status|wait|cancel|logs``: a few lines each over :mod:`.jobs`.

Registered into ``amlws mlv2`` by :func:`register` (called from :func:`.commands.register`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Azure ML v2 training jobs: submit, follow, cancel, read the log (the steps of a v2 retrain).",
                  no_args_is_help=True)

ResourceGroupOpt = Annotated[str | None, typer.Option("--resource-group", "-g", help="The workspace's resource group.")]
WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", "-w", help="Azure ML workspace name.")]
SubscriptionOpt = Annotated[str | None, typer.Option("--subscription", help="Subscription ID (AZURE_SUBSCRIPTION_ID).")]
NameArg = Annotated[str, typer.Argument(help="Job name.", show_default=False)]
KeepJobOpt = Annotated[bool, typer.Option("--keep-job", help="On --timeout or Ctrl-C leave the job running (default: cancel it).")]


def register(mlv2_app: typer.Typer) -> None:
    mlv2_app.add_typer(app, name="jobs")


def _where(resource_group: str | None, workspace: str | None, subscription: str | None) -> tuple[Any, str]:
    from amlws.cli.application import get_context

    from .jobs import workspace_ref

    ctx = get_context()
    return ctx, workspace_ref(ctx.settings, resource_group=resource_group, workspace=workspace, subscription=subscription)


def _job_table(job: dict[str, Any]) -> None:
    props = job.get("properties") or {}
    sys.stdout.write(f"{job.get('name')}: {props.get('status')}\n")


def _stream(state: str) -> None:
    sys.stderr.write(f"status: {state}\n")
    sys.stderr.flush()


@app.command("submit")
def submit_cmd(
    job_file: Annotated[Path | None, typer.Option("--job-file", help="The job to submit (JSON: a JobBaseResource or its properties).")] = None,
    from_job: Annotated[str | None, typer.Option("--from-job", help="Copy this earlier job's definition under a new unique name.")] = None,
    inputs: Annotated[list[str] | None, typer.Option("--input", help="NAME=URI_OR_PATH: replace an input; a local path is uploaded to the default datastore.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The new job's name (default: BASE-<utc time>-<random>).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the job to end (as amlws mlv2 jobs wait).")] = False,
    keep_job: KeepJobOpt = False,
    resource_group: ResourceGroupOpt = None,
    workspace: WorkspaceOpt = None,
    subscription: SubscriptionOpt = None,
) -> None:
    """Submit a training job (PUT …/jobs/NAME) from a job file or a copy of an earlier job.

    Examples:
        Retrain like an earlier job, on a new local CSV
            amlws mlv2 jobs submit -g MyRG -w MyWS --from-job train-1 --input train=new.csv --wait
        Submit a job file; the job's JSON on stdout
            amlws mlv2 jobs submit -g MyRG -w MyWS --job-file job.json -o json
    """
    from . import jobs

    ctx, ws = _where(resource_group, workspace, subscription)
    chosen, body = jobs.prepare(ctx.settings, ws, job_file=job_file, from_job=from_job, inputs=jobs.parse_inputs(inputs), name=name)
    if ctx.settings.what_if:
        ctx.emit({"whatIf": True, "requests": [{"method": "PUT", "url": jobs.job_id(ws, chosen), "body": body}]})
        return
    job = jobs.submit(ctx.settings, ws, chosen, body)
    sys.stderr.write(f"submitted job {chosen}\n")
    if wait:
        job = jobs.wait(ctx.settings, ws, chosen, timeout=ctx.settings.timeout(), keep_job=keep_job, on_status=_stream)
    ctx.emit(job, table=_job_table)


@app.command("status")
def status_cmd(name: NameArg, resource_group: ResourceGroupOpt = None, workspace: WorkspaceOpt = None,
               subscription: SubscriptionOpt = None) -> None:
    """Show a job (its properties.status in -o table, the whole job in -o json).

    Examples:
        amlws mlv2 jobs status train-2 -g MyRG -w MyWS
    """
    from . import jobs

    ctx, ws = _where(resource_group, workspace, subscription)
    ctx.emit(jobs.get_job(ctx.settings, ws, name), table=_job_table)


@app.command("wait")
def wait_cmd(name: NameArg, keep_job: KeepJobOpt = False, resource_group: ResourceGroupOpt = None,
             workspace: WorkspaceOpt = None, subscription: SubscriptionOpt = None) -> None:
    """Wait for a job to end, each status change on stderr; exit 1 unless it Completed.

    Examples:
        Wait at most an hour, then cancel it
            amlws mlv2 jobs wait train-2 -g MyRG -w MyWS --timeout 3600
    """
    from . import jobs

    ctx, ws = _where(resource_group, workspace, subscription)
    ctx.emit(jobs.wait(ctx.settings, ws, name, timeout=ctx.settings.timeout(), keep_job=keep_job, on_status=_stream),
             table=_job_table)


@app.command("cancel")
def cancel_cmd(name: NameArg, resource_group: ResourceGroupOpt = None, workspace: WorkspaceOpt = None,
               subscription: SubscriptionOpt = None) -> None:
    """Cancel a job (POST …/jobs/NAME/cancel).

    Examples:
        amlws mlv2 jobs cancel train-2 -g MyRG -w MyWS
    """
    from . import jobs

    ctx, ws = _where(resource_group, workspace, subscription)
    ctx.emit(jobs.cancel(ctx.settings, ws, name), table=_job_table)


@app.command("logs")
def logs_cmd(name: NameArg, resource_group: ResourceGroupOpt = None, workspace: WorkspaceOpt = None,
             subscription: SubscriptionOpt = None) -> None:
    """Print a job's log (user_logs/std_log.txt on the workspace's artifact store).

    Examples:
        amlws mlv2 jobs logs train-2 -g MyRG -w MyWS
    """
    from . import jobs

    ctx, ws = _where(resource_group, workspace, subscription)
    text = jobs.logs(ctx.settings, ws, name)
    ctx.emit({"job": name, "log": text}, table=lambda d: sys.stdout.write(d["log"]))
