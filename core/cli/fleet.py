"""CLI: ``amlws fleet run MANIFEST`` and ``amlws fleet status STATE...`` (thin over :mod:`amlws.fleet`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import API_KEY_HINT

#: The GIL switch interval (seconds) ``amlws fleet run`` sets while its workers run.
FLEET_SWITCH_INTERVAL = 0.001


@contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    """The fleet's workers wait on the network almost all the time: one whose response has come
    gets the GIL back within 1 ms instead of the default 5 ms. An interpreter-wide setting, so it is
    the command's choice (the process is ours), never :func:`run_fleet`'s (a library call in
    someone else's process); restored afterwards."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _ctx() -> Any:
    from .application import get_context

    return get_context()


def _table(summary: dict[str, Any]) -> None:
    from ..output import render_table

    rows = [{"key": r["key"], "status": r["status"], "jobId": r.get("jobId"), "exit": r.get("exitCode"),
             "seconds": r.get("seconds"), "waited": r.get("throttleSeconds"), "error": r.get("error")} for r in summary["rows"]]
    columns = ["key", "status", "jobId", "exit", "seconds", "error"]
    if any(r.get("throttleSeconds") for r in summary["rows"]):
        columns.insert(5, "waited")  # seconds the row waited for the ARM budget
    render_table(rows, columns=columns)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["counts"].items()))
    typer.echo(f"{summary['total']} row(s): {counts or 'none'}; exit code {summary['exitCode']}")
    throttling = summary.get("throttling")
    if throttling and (throttling["waits"] or throttling["throttled"]):
        typer.echo(f"ARM budget: {throttling['waitSeconds']:.1f} s of waits ({throttling['waits']} request(s)), "
                   f"{throttling['throttled']} answer(s) 429 of {throttling['requests']}")


def _finish(ctx: Any, summary: dict[str, Any], what: str) -> None:
    ctx.emit(summary, table=_table)
    code = int(summary["exitCode"])
    if code:
        from ..fleet import FleetFailed, FleetInterrupted

        failed = [r for r in summary["rows"] if r["status"] not in ("deployed", "planned")]
        if code == 130:
            raise FleetInterrupted(f"{what}: interrupted; {len(failed)} row(s) not done",
                                   hint="run the same amlws fleet run again to resume")
        raise FleetFailed(f"{what}: {len(failed)} of {summary['total']} row(s) not deployed", exit_code=code,
                          hint=_rerun_hint(failed))


def _rerun_hint(failed: list[dict[str, Any]]) -> str:
    """What a rerun really does for these rows: it retries failed ones, but a gate failure is final."""
    gated = sum(1 for r in failed if r["status"] == "gate_failed")
    parts = ["see the table (or -o json) for each row's error"]
    if len(failed) > gated:
        parts.append("rerun amlws fleet run to retry the rows that failed or did not run")
    if gated:
        parts.append(f"{gated} gate_failed row(s) are final and a rerun skips them: change the row's data or gate "
                     "in the manifest (a changed row starts afresh)")
    return "; ".join(parts)


def register(app: typer.Typer) -> None:
    fleet = typer.Typer(help="Retrain and deploy many models from one manifest: concurrent, resumable, shardable.\n\nExamples:\n    Run, then check the state\n        amlws fleet run models.csv --yes\n        amlws fleet status models.fleet-state.jsonl",
                        no_args_is_help=True)
    app.add_typer(fleet, name="fleet")

    @fleet.command("run")
    def fleet_run(
        manifest: Annotated[Path, typer.Argument(help="CSV, JSON or YAML manifest, one row per model (see docs/fleet.md).")],
        state: Annotated[Path | None, typer.Option("--state", help="Journal file (default: MANIFEST.fleet-state.jsonl beside the manifest, per shard).")] = None,
        jobs: Annotated[int, typer.Option("--jobs", "-j", help="Rows in flight at once.", min=1)] = 4,
        bes_jobs: Annotated[int | None, typer.Option("--bes-jobs", help="BES jobs in flight at once (default: --jobs).", min=1)] = None,
        mgmt_jobs: Annotated[int | None, typer.Option("--mgmt-jobs", help="Concurrent management calls (default: --jobs).", min=1)] = None,
        shard: Annotated[str | None, typer.Option("--shard", help="I/N: run only slice I of N (stable hash of the row key).")] = None,
        fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Start no new row after one fails.")] = False,
        training_url: Annotated[str | None, typer.Option("--training-url", help="Default BES URL for rows without training_url.")] = None,
        evaluation_output: Annotated[str | None, typer.Option("--evaluation-output", help="Default evaluation output (for gates).")] = None,
        gate: Annotated[list[str] | None, typer.Option("--gate", help='Default gate for rows without one, e.g. "Accuracy>=0.85". Repeatable.')] = None,
        create: Annotated[bool, typer.Option("--create-missing", help="Create missing targets, where their backend can (rows may say create=true).")] = False,
        poll_interval: Annotated[float, typer.Option("--poll-interval", help="First wait between BES status polls (s).", min=0.0)] = 2.0,
        arm_budget: Annotated[int, typer.Option("--arm-budget", metavar="PERCENT", min=1, max=100,
                                                help="Percent of the subscription's ARM buckets this run may drain; the rest is left to other tools (see docs/fleet.md).")] = 80,
        no_pacing: Annotated[bool, typer.Option("--no-pacing", help="Do not wait for the ARM budget: send as fast as --jobs allows (429s are still retried).")] = False,
    ) -> None:
        """Run the retrain workflow for every manifest row; re-run to resume after a crash or Ctrl-C.

        Examples:
            Retrain every row of a manifest, 8 at a time, resumable
                amlws fleet run models.csv --jobs 8 --gate "AUC>=0.85" --yes
            Plan only
                amlws fleet run models.csv --what-if
        """
        from ..azure.blob import storage_connection_string
        from ..fleet import FleetOptions, FleetProgress, default_state_path, load_manifest, parse_shard, run_fleet, select_shard

        ctx = _ctx()
        defaults: dict[str, Any] = {}
        if training_url:
            defaults["training_url"] = training_url
        if evaluation_output:
            defaults["evaluation_output"] = evaluation_output
        if gate:
            defaults["gates"] = list(gate)
        if create:
            defaults["create"] = True
        rows = load_manifest(manifest, defaults=defaults)
        shard_t = parse_shard(shard)
        mine = select_shard(rows, shard_t)
        settings = ctx.settings
        if not settings.what_if:
            ctx.confirm(f"Retrain and deploy {len(mine)} model(s) from {manifest}?")
        needs_key = any(r.training_url for r in mine)
        api_key = settings.require("api_key", hint=API_KEY_HINT, secret=True) if needs_key else None
        options = FleetOptions(state=state or default_state_path(manifest, shard_t), jobs=jobs, bes_jobs=bes_jobs,
                               mgmt_jobs=mgmt_jobs, fail_fast=fail_fast, shard=shard_t, poll_interval=poll_interval,
                               timeout=settings.timeout(), what_if=bool(settings.what_if), arm_budget=float(arm_budget),
                               pacing=not no_pacing)
        with _switch_interval(FLEET_SWITCH_INTERVAL):
            summary = run_fleet(ctx.host, rows, options, api_key=api_key,
                                storage_connection_string=storage_connection_string(settings, required=False),
                                progress=FleetProgress())
        _finish(ctx, summary, "fleet run")

    @fleet.command("status")
    def fleet_status_cmd(
        states: Annotated[list[Path], typer.Argument(help="State file(s) from fleet run (a manifest: its state files beside it); several shards are merged.")],
    ) -> None:
        """Per-row state of a fleet (merging shard journals); exit code as the run's: 0 only when every row is deployed.

        Examples:
            State of a run split in two shards (fleet run models.csv --shard 1/2, then 2/2)
                amlws fleet status models.shard-1-of-2.fleet-state.jsonl models.shard-2-of-2.fleet-state.jsonl
            The rows not deployed yet (a manifest stands for the state files beside it)
                amlws fleet status models.csv -o json --query "rows[?status!='deployed'].key"
        """
        from ..fleet import fleet_status

        ctx = _ctx()
        _finish(ctx, fleet_status(list(states)), "fleet status")
