"""``amlws history``, ``amlws diff`` and ``amlws rollback``: thin commands over :mod:`amlws.safety.rollback`.

Import-light: the library modules are imported when a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .application import get_context
from .targets import TargetInput, with_target_options


def _history_table(data: Any) -> None:
    from ..output import render_table

    if isinstance(data, list):
        rows = [{**r, "model": _models_cell(r.get("models"))} for r in data]
        render_table(rows, columns=["revision", "time", "user", "action", "status", "model", "note"])
        return
    out = sys.stdout
    out.write(f"revision {data['revision']} of {data['target']}: {data['action']} at {data['time']} by {data['user']} "
              f"({data['status']})\n")
    if data.get("models"):
        out.write(f"model: {_models_cell(data['models'])}\n")
    import json

    out.write(json.dumps(data.get("definition"), indent=2, ensure_ascii=False) + "\n")


def _models_cell(models: Any) -> str:
    """The model URI (``name: uri`` per model when a definition has several)."""
    if not isinstance(models, list):
        return ""
    if len(models) == 1:
        return str(models[0].get("uri", ""))
    return "; ".join(f"{m.get('name')}: {m.get('uri')}" for m in models)


def _metrics_table(data: dict[str, Any]) -> None:
    """One row per retrain (newest last), then one sparkline per metric with its first and last value."""
    from ..output import render_table
    from ..safety.trend import sparkline

    names = data["metrics"]
    rows = [{"revision": r["revision"], "time": r["time"], "action": r["action"],
             **{n: _number_cell(r["metrics"].get(n)) for n in names}} for r in data["retrains"]]
    render_table(rows, columns=["revision", "time", "action", *names])
    width = max(len(n) for n in names)
    for name in names:
        values = data["trend"][name]
        known = [v for v in values if v is not None]
        ends = f"{known[0]:.4g} → {known[-1]:.4g}" if known else ""
        sys.stdout.write(f"{name.ljust(width)}  {sparkline(values)}  {ends}\n")


def _number_cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def _diff_table(data: dict[str, Any]) -> None:
    sys.stdout.write(data["diff"] or f"no difference between the live definition and {data['to']}\n")


def _rollback_table(data: dict[str, Any]) -> None:
    out = sys.stdout
    if data.get("whatIf"):
        out.write(f"What if: would roll {data['target']} back to revision {data['revision']}\n")
        for r in data["requests"]:
            out.write(f"  {r['method']} {r['url']}\n")
        out.write(data["diff"])
        return
    out.write(data["message"] + "\n")


def register(app: typer.Typer) -> None:
    @app.command("history")
    @with_target_options
    def history_cmd(
        target: TargetInput,
        revision: Annotated[int | None, typer.Option("--revision", help="Show this revision in full (its saved definition).")] = None,
        metrics: Annotated[bool, typer.Option("--metrics", help="The metrics of each deployed retrain, newest last (a sparkline per metric in -o table).")] = False,
    ) -> None:
        """List the definitions amlws saved before each change of a target (local; sends nothing).

        Without a target: every target with history, latest change first.

        Examples:
            Every target with history, then one target's revisions
                amlws history
                amlws history -g MyRG -n MyService
            Show revision 3 in full
                amlws history -g MyRG -n MyService --revision 3 -o json
            The trend of the retrains' metrics
                amlws history -g MyRG -n MyService --metrics
        """
        from ..safety.rollback import history

        ctx = get_context()
        if metrics:
            from ..errors import UsageError
            from ..safety.trend import metrics_history

            if not target.given or revision is not None:
                raise UsageError("--metrics needs a target and no --revision", hint="amlws history TARGET --metrics")
            ctx.emit(metrics_history(target.resolve(ctx)), table=_metrics_table)
            return
        if not target.given:
            from ..output import render_table
            from ..safety.history import History

            ctx.emit(History().targets(), table=lambda rows: render_table(
                rows, columns=["lastTime", "lastAction", "revisions", "backend", "target"]))
            return
        ctx.emit(history(ctx.host, target.resolve(ctx), revision=revision), table=_history_table)

    @app.command("diff")
    @with_target_options
    def diff_cmd(
        target: TargetInput,
        revision: Annotated[int | None, typer.Option("--revision", help="History revision to compare with (default: the latest).")] = None,
        file: Annotated[Path | None, typer.Option("--file", "-f", help="Local definition file (as amlws export writes) to compare with.")] = None,
    ) -> None:
        """Unified diff from the live definition to a history revision or a local file (reads only).

        Examples:
            What changed since revision 3; against a local file
                amlws diff -g MyRG -n MyService --revision 3
                amlws diff -g MyRG -n MyService --file svc.json
        """
        from ..safety.rollback import diff

        ctx = get_context()
        t = target.resolve(ctx)
        ctx.emit(diff(ctx.host, t, revision=revision, file=str(file) if file is not None else None), table=_diff_table)

    @app.command("rollback")
    @with_target_options
    def rollback_cmd(
        target: TargetInput,
        to: Annotated[int | None, typer.Option("--to", help="Revision to restore (default: the latest, i.e. undo the last change).")] = None,
        sas_token: Annotated[str | None, typer.Option("--sas-token", envvar="AMLWS_SAS_BLOB_TOKEN", help="Read SAS for the revision's model blob when it differs from the live one (history never keeps SAS signatures).")] = None,
    ) -> None:
        """Restore a saved revision through the normal update path (confirmation, --what-if, its own history entry).

        Examples:
            Preview, then roll back to revision 3
                amlws rollback -g MyRG -n MyService --to 3 --what-if
                amlws rollback -g MyRG -n MyService --to 3 --yes
        """
        from ..safety.rollback import rollback

        ctx = get_context()
        t = target.resolve(ctx)
        if sas_token:
            from ..redact import register_secret

            register_secret(sas_token)
        data = rollback(ctx.host, t, to=to, what_if=ctx.settings.what_if, confirm=ctx.confirm, sas_token=sas_token)
        ctx.emit(data, table=_rollback_table)
