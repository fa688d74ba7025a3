"""The ``amlws rollout`` command and the hooks behind ``amlws invoke`` and fleet rows for this backend.

Import-light (the backend's ``__init__`` imports it on every start): everything else is imported
when a command or hook runs.
"""

# no ``from __future__ import annotations``: the command's annotations name what register() imports
from typing import Any

from amlws import hookimpl

BACKEND = "mlv2"


@hookimpl
def amlws_invoke(target: Any, settings: Any, text: str, source: str, options: dict[str, Any]) -> Any:
    """``amlws invoke ENDPOINT|DEPLOYMENT --input-file ROWS [--deployment DEP]``: the endpoint's scoringUri."""
    if target.backend != BACKEND:
        return None
    from .backend import client
    from .ids import endpoint_id
    from .scoring import body_from_text, invoke, plan_invoke

    body = body_from_text(text, source)
    deployment = target.parts.get("deployment") or options.get("deployment") or None
    ep = endpoint_id(target.id)
    if settings.what_if:
        return plan_invoke(ep, body, deployment=deployment)
    with client(settings, target) as c:
        return invoke(c, ep, body, settings, deployment=deployment)


@hookimpl
def amlws_deploy_model(target: Any, model: str, settings: Any, host: Any, options: dict[str, Any]) -> Any:
    """A fleet row naming an endpoint: a rollout (a deployment: ``None``, the generic in-place update)."""
    if target.backend != BACKEND or target.parts.get("deployment"):
        return None
    from .backend import client
    from .rollout import plan_rollout, run_rollout

    with client(settings, target) as c:
        plan = plan_rollout(c, target.id, model)
        result = run_rollout(host, target, plan, c, action=str(options.get("action") or "rollout"), note=options.get("note"))
    return {"verified": bool(result.get("verified", True)), "modelUri": plan.model, "rollout": result}


def register(app: Any) -> None:
    """Add ``amlws rollout`` (called from the backend's ``amlws_register_commands``)."""
    from pathlib import Path
    from typing import Annotated

    import typer

    from amlws.cli.application import get_context
    from amlws.cli.targets import TargetInput, with_target_options

    def _table(data: dict[str, Any]) -> None:
        import sys

        out = sys.stdout
        if data.get("whatIf"):
            out.write(f"What if: roll {data['endpoint']} from {data['from']} to {data['to']} (model {data['model']})\n")
            for step in data["steps"]:
                out.write(f"  step {step['percent']}%: " + " ".join(f"{k}={v}" for k, v in sorted(step["traffic"].items())) + "\n")
            for r in data["requests"]:
                out.write(f"  {r['method']} {r['url']}\n")
            return
        out.write(data["message"] + "\n")

    @app.command("rollout")
    @with_target_options(backend=BACKEND)
    def rollout_cmd(
        target: TargetInput,
        model: Annotated[str, typer.Option("--model", help="The new model version: azureml:NAME:VERSION, NAME:VERSION, NAME@latest or its id.")],
        source: Annotated[str | None, typer.Option("--from", help="Deployment to copy and take traffic from (default: the largest share).")] = None,
        to: Annotated[str | None, typer.Option("--to", help="Name of the new deployment (default: green after blue, blue after green, else FROM-VERSION).")] = None,
        steps: Annotated[str | None, typer.Option("--steps", help="Percentages of the old share moved at each step, ending at 100.")] = "10,50,100",
        pause: Annotated[float, typer.Option("--pause", help="Seconds to wait between steps.")] = 0.0,
        smoke_file: Annotated[Path | None, typer.Option("--smoke-file", help="Rows (CSV or MLflow JSON) scored on the new deployment, then through the endpoint at each step.")] = None,
        keep_old: Annotated[bool, typer.Option("--keep-old", help="Keep the old deployment (at 0 %) instead of deleting it.")] = False,
    ) -> None:
        """Blue/green: a copy of the live deployment with a new model, then traffic shifted to it step by step.

        One history entry for the endpoint: amlws rollback ENDPOINT restores the split from before
        (re-creating the old deployment when the rollout deleted it). A failed smoke step restores the
        split and exits 5; a traffic change by someone else meanwhile stops it (exit 5).

        Examples:
            Preview, then roll out version 2 with a smoke test at each step
                amlws rollout -g RG -w WS -e my-endpoint --model my-model:2 --what-if
                amlws rollout -g RG -w WS -e my-endpoint --model my-model:2 --smoke-file rows.csv --pause 60 --yes
        """
        from amlws.redact import redact_request

        from .backend import client
        from .rollout import parse_steps, plan_rollout, run_rollout
        from .scoring import load_body

        ctx = get_context()
        t = target.resolve(ctx)
        step_list = parse_steps(steps)
        if pause < 0:
            from amlws.errors import UsageError

            raise UsageError("--pause cannot be negative", hint="give the seconds to wait between steps")
        body = load_body(smoke_file) if smoke_file is not None else None
        with client(ctx.settings, t) as c:
            plan = plan_rollout(c, t.id, model, source=source, name=to, steps=step_list, keep_old=keep_old, smoke=body is not None)
            if ctx.settings.what_if:
                ctx.emit({"whatIf": True, **plan.to_dict(), "requests": [redact_request(r) for r in plan.requests]}, table=_table)
                return
            ctx.confirm(f"Roll {plan.endpoint_id} from {plan.source} to a new deployment {plan.name} with {model}?")
            data = run_rollout(ctx.host, t, plan, c, smoke_body=body, pause=pause)
        ctx.emit(data, table=_table)
