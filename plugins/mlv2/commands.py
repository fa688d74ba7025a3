"""``amlws mlv2 ...``: Azure ML v2 endpoints, deployments, models and traffic, each a few lines over
:mod:`.backend` (``amlws traffic`` is the same command at the top level, the name issue 15 gives it).

Imported only when the CLI registers commands; the Azure SDK is imported by the client, lazily.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from amlws.cli.targets import TargetArg, TargetInput, with_target_options

GROUP_HELP = "Azure ML v2 managed online endpoints, deployments, models and traffic (Microsoft.MachineLearningServices)."

ResourceGroupOpt = Annotated[str | None, typer.Option("--resource-group", "-g", help="The workspace's resource group (setting resource_group).")]
WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace name.")]
EndpointOpt = Annotated[str | None, typer.Option("--endpoint", "-e", help="Online endpoint name (with -g/-w).")]
DeploymentOpt = Annotated[str | None, typer.Option("--deployment", "-d", help="Online deployment name (with -g/-w/-e).")]
SubscriptionOpt = Annotated[str | None, typer.Option("--subscription", help="Subscription ID (AZURE_SUBSCRIPTION_ID).")]
ApiVersionOpt = Annotated[str | None, typer.Option("--api-version", help="api-version to send (setting mlv2_api_version; default 2025-12-01).")]

#: TARGET (an endpoint or deployment id) or -g/-w/-e[/-d] and --subscription, resolved by this backend only.
v2_target = with_target_options(
    target=TargetArg,
    options={"resource_group": ResourceGroupOpt, "workspace": WorkspaceOpt, "endpoint": EndpointOpt,
             "deployment": DeploymentOpt, "subscription": SubscriptionOpt},
    backend="mlv2",
)


def _ctx(api_version: str | None) -> Any:
    from amlws.cli.application import get_context

    ctx = get_context()
    if api_version:
        ctx.settings.invocation.options["api_version"] = api_version
    return ctx


def _target(ctx: Any, target: TargetInput, kind: str | None = None) -> Any:
    from amlws.errors import UsageError

    from .backend import kind_of_target

    t = target.resolve(ctx)
    if kind is not None and kind_of_target(t) != kind:
        raise UsageError(f"{t.id} is an online {kind_of_target(t)}, not an online {kind}",
                         hint="-g RG -w WS -e EP names an endpoint; add -d DEP for a deployment")
    return t


def _workspace(ctx: Any, resource_group: str | None, workspace: str | None, subscription: str | None) -> str:
    from .backend import workspace_from

    return workspace_from(ctx.settings, resource_group, workspace, subscription)


def _table(rows: Any) -> None:
    from amlws.output import render_table

    render_table(rows)


def _what_if(ctx: Any, plan: dict[str, Any]) -> None:
    def table(p: dict[str, Any]) -> None:
        out = sys.stdout
        out.write(f"What if: {p['target']}\n")
        for r in p["requests"]:
            out.write(f"  {r['method']} {r['url']}\n")
        for field in ("traffic", "mirrorTraffic"):
            if field in p and p[field]["from"] != p[field]["to"]:
                out.write(f"  {field}: {_shares(p[field]['from'])} -> {_shares(p[field]['to'])}\n")

    ctx.emit(plan, table=table)


def _shares(shares: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(shares.items())) or "(none)"


# --- traffic ------------------------------------------------------------------------------------


@v2_target
def traffic_cmd(
    target: TargetInput,
    shares: Annotated[list[str] | None, typer.Argument(help="DEPLOYMENT=PERCENT pairs, summing to 100 (or 0).", show_default=False)] = None,
    mirror: Annotated[list[str] | None, typer.Option("--mirror", help="DEPLOYMENT=PERCENT of mirrored (shadow) traffic, at most 50, to a deployment without live traffic; --mirror '' clears it.")] = None,
    *,
    api_version: ApiVersionOpt = None,
) -> None:
    """Set an endpoint's traffic split (and mirror traffic), verify it. (az ml online-endpoint update --traffic)

    Examples:
        Send 10 % to green
            amlws mlv2 traffic ENDPOINT_ID blue=90 green=10
            amlws traffic -g RG -w WS -e EP blue=90 green=10 --yes
        Mirror 10 % of blue's traffic to green (green takes no live traffic)
            amlws mlv2 traffic ENDPOINT_ID blue=100 --mirror green=10
    """
    from amlws.errors import UsageError

    from .backend import prepare_traffic, set_traffic
    from .definition import parse_shares

    ctx = _ctx(api_version)
    items = list(shares or [])
    if target.text is not None and "=" in target.text and not target.text.startswith("/"):
        items.insert(0, target.text)  # -g/-w/-e named the endpoint: the first pair landed in TARGET
        target = target._replace(text=None)
    if not items and mirror is None:
        raise UsageError("no traffic given", hint="give DEPLOYMENT=PERCENT pairs, e.g. blue=90 green=10 (or --mirror)")
    t = _target(ctx, target)
    mirrored = None if mirror is None else parse_shares([m for m in mirror if m], "mirror")
    prepared = prepare_traffic(ctx.settings, t, parse_shares(items) if items else None, mirrored)
    if ctx.settings.what_if:
        _what_if(ctx, prepared.plan())
        return
    diff = prepared.diff()
    ctx.confirm(f"Set the traffic of {prepared.target.id} to {_shares(diff['traffic']['to'])}"
                + (f" (mirror {_shares(diff['mirrorTraffic']['to'])})" if diff["mirrorTraffic"]["to"] else "") + "?")
    result = set_traffic(ctx.host, prepared)
    ctx.emit(result.to_dict(), table=lambda _: _table({"target": prepared.target.id, "traffic": _shares(diff["traffic"]["to"]),
                                                        "mirrorTraffic": _shares(diff["mirrorTraffic"]["to"]),
                                                        "verification": result.verification}))


# --- endpoints ------------------------------------------------------------------------------------


def endpoints_list_cmd(resource_group: ResourceGroupOpt = None, workspace: WorkspaceOpt = None,
                       subscription: SubscriptionOpt = None, api_version: ApiVersionOpt = None) -> None:
    """List a workspace's online endpoints. (Get-AzMLWorkspaceOnlineEndpoint, az ml online-endpoint list)

    Examples:
        Endpoints with their traffic; their ids for scripts
            amlws mlv2 endpoints list -g RG -w WS
            amlws mlv2 endpoints list -g RG -w WS --query "[].id" -o tsv
    """
    from .backend import client, endpoint_row

    ctx = _ctx(api_version)
    ws = _workspace(ctx, resource_group, workspace, subscription)
    with client(ctx.settings, subscription=ws.split("/")[2]) as c:
        items = c.list_endpoints(ws)
    ctx.emit(items, table=lambda _: _table([endpoint_row(i) for i in items]))


@v2_target
def endpoints_get_cmd(target: TargetInput, *, api_version: ApiVersionOpt = None) -> None:
    """Get an online endpoint. (Get-AzMLWorkspaceOnlineEndpoint -Name, az ml online-endpoint show)

    Examples:
        Show an endpoint, then as JSON
            amlws mlv2 endpoints get -g RG -w WS -e EP
            amlws mlv2 endpoints get ENDPOINT_ID -o json
    """
    from .backend import endpoint_target, get_definition, summary

    ctx = _ctx(api_version)
    t = endpoint_target(_target(ctx, target))
    definition = get_definition(t, ctx.settings)
    ctx.emit(definition.document, table=lambda d: _table(summary(d)))


@v2_target
def endpoints_keys_cmd(target: TargetInput, *, api_version: ApiVersionOpt = None) -> None:
    """Show an endpoint's keys (authMode Key). (Get-AzMLWorkspaceOnlineEndpointKey, az ml online-endpoint get-credentials)

    Examples:
        The primary key only
            amlws mlv2 endpoints keys -g RG -w WS -e EP --query primaryKey -o tsv
    """
    from .backend import client, endpoint_target

    ctx = _ctx(api_version)
    t = endpoint_target(_target(ctx, target))
    with client(ctx.settings, t) as c:
        keys = c.list_keys(t.id)
    ctx.emit(keys)


# --- deployments ----------------------------------------------------------------------------------


@v2_target
def deployments_list_cmd(target: TargetInput, *, api_version: ApiVersionOpt = None) -> None:
    """List an endpoint's deployments, with their traffic. (Get-AzMLWorkspaceOnlineDeployment, az ml online-deployment list)

    Examples:
        Deployments of an endpoint
            amlws mlv2 deployments list -g RG -w WS -e EP
    """
    from .backend import client, deployment_row, endpoint_target

    ctx = _ctx(api_version)
    t = endpoint_target(_target(ctx, target))
    with client(ctx.settings, t) as c:
        endpoint = c.get_endpoint(t.id)
        items = c.list_deployments(t.id)
    ctx.emit(items, table=lambda _: _table([deployment_row(i, endpoint) for i in items]))


@v2_target
def deployments_get_cmd(target: TargetInput, *, api_version: ApiVersionOpt = None) -> None:
    """Get an online deployment (as amlws get). (Get-AzMLWorkspaceOnlineDeployment -Name, az ml online-deployment show)

    Examples:
        Show a deployment
            amlws mlv2 deployments get -g RG -w WS -e EP -d blue
    """
    from .backend import get_definition, summary

    ctx = _ctx(api_version)
    definition = get_definition(_target(ctx, target, "deployment"), ctx.settings)
    ctx.emit(definition.document, table=lambda d: _table(summary(d)))


@v2_target
def deployments_logs_cmd(
    target: TargetInput,
    tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines.", min=1)] = None,
    container: Annotated[str, typer.Option("--container", help="InferenceServer or StorageInitializer.")] = "InferenceServer",
    *,
    api_version: ApiVersionOpt = None,
) -> None:
    """Print a deployment's container logs. (Get-AzMLWorkspaceOnlineDeploymentLog, az ml online-deployment get-logs)

    Examples:
        The last 50 lines of the inference server
            amlws mlv2 deployments logs -g RG -w WS -e EP -d blue --tail 50
    """
    from .backend import client

    ctx = _ctx(api_version)
    t = _target(ctx, target, "deployment")
    with client(ctx.settings, t) as c:
        content = c.get_logs(t.id, container=container, tail=tail)
    if ctx.settings.output == "table":
        sys.stdout.write(content if content.endswith("\n") or not content else content + "\n")
        return
    ctx.emit({"content": content})


@v2_target
def deployments_remove_cmd(target: TargetInput, *, api_version: ApiVersionOpt = None) -> None:
    """Delete a deployment that takes no traffic (exit 5 while it does). (Remove-AzMLWorkspaceOnlineDeployment)

    Examples:
        Delete the old deployment without a prompt
            amlws mlv2 deployments remove -g RG -w WS -e EP -d blue --yes
    """
    from .backend import check_removable, plan_remove, remove_deployment

    ctx = _ctx(api_version)
    t = _target(ctx, target, "deployment")
    if ctx.settings.what_if:
        check_removable(ctx.settings, t)
        from amlws.api import redact_request

        _what_if(ctx, {"whatIf": True, "target": t.id, "requests": [redact_request(r) for r in plan_remove(ctx.settings, t)]})
        return
    ctx.confirm(f"Delete deployment {t.id}? This cannot be undone")
    result = remove_deployment(ctx.host, t)
    ctx.emit(result.to_dict(), table=lambda _: _table({"removed": t.id, "verification": result.verification}))


# --- models ---------------------------------------------------------------------------------------


def models_list_cmd(resource_group: ResourceGroupOpt = None, workspace: WorkspaceOpt = None,
                    subscription: SubscriptionOpt = None, api_version: ApiVersionOpt = None) -> None:
    """List a workspace's models (containers) with their latest version. (Get-AzMLWorkspaceModelContainer, az ml model list)

    Examples:
        Models of a workspace
            amlws mlv2 models list -g RG -w WS
    """
    from .backend import client, model_row

    ctx = _ctx(api_version)
    ws = _workspace(ctx, resource_group, workspace, subscription)
    with client(ctx.settings, subscription=ws.split("/")[2]) as c:
        items = c.list_models(ws)
    ctx.emit(items, table=lambda _: _table([model_row(i) for i in items]))


def models_get_cmd(
    name: Annotated[str, typer.Argument(help="Model name (or NAME:VERSION, NAME@latest).")],
    version: Annotated[str | None, typer.Option("--version", help="One version (default: list every version).")] = None,
    resource_group: ResourceGroupOpt = None,
    workspace: WorkspaceOpt = None,
    subscription: SubscriptionOpt = None,
    api_version: ApiVersionOpt = None,
) -> None:
    """Get a model's versions, or one version. (Get-AzMLWorkspaceModelVersion, az ml model show)

    Examples:
        Every version of a model; then version 2 as JSON
            amlws mlv2 models get bike-rentals -g RG -w WS
            amlws mlv2 models get bike-rentals:2 -g RG -w WS -o json
    """
    from .backend import get_model, version_row

    ctx = _ctx(api_version)
    ws = _workspace(ctx, resource_group, workspace, subscription)
    data = get_model(ctx.settings, ws, name, version)
    rows = data if isinstance(data, list) else [data]
    ctx.emit(data, table=lambda _: _table([version_row(v) for v in rows]))


def models_register_cmd(
    name: Annotated[str | None, typer.Option("--name", help="Model name.")] = None,
    uri: Annotated[str | None, typer.Option("--uri", "--path", help="The model's files: azureml://datastores/..., https://..., runs:/...")] = None,
    version: Annotated[str | None, typer.Option("--version", help="Version (default: the model's nextVersion).")] = None,
    model_type: Annotated[str | None, typer.Option("--type", help="custom_model, mlflow_model or triton_model (default: the service's).")] = None,
    description: Annotated[str | None, typer.Option("--description", help="Description.")] = None,
    resource_group: ResourceGroupOpt = None,
    workspace: WorkspaceOpt = None,
    subscription: SubscriptionOpt = None,
    api_version: ApiVersionOpt = None,
) -> None:
    """Register a model version. (New-AzMLWorkspaceModelVersion, az ml model create)

    Examples:
        Register the next version of a model from a datastore folder
            amlws mlv2 models register -g RG -w WS --name bike-rentals --uri azureml://datastores/workspaceblobstore/paths/models/v3/ --yes
    """
    from amlws.errors import UsageError

    from .backend import plan_register_model, register_model

    ctx = _ctx(api_version)
    if not name or not uri:
        raise UsageError("--name and --uri are required", hint="e.g. --name bike-rentals --uri azureml://datastores/DS/paths/PATH/")
    ws = _workspace(ctx, resource_group, workspace, subscription)
    if ctx.settings.what_if:
        _what_if(ctx, plan_register_model(ctx.settings, ws, name, uri, version=version, model_type=model_type,
                                          description=description))
        return
    ctx.confirm(f"Register model {name}" + (f" version {version}" if version else " (next version)") + f" in {ws}?")
    result = register_model(ctx.host, ws, name, uri, version=version, model_type=model_type, description=description)
    ctx.emit(result.to_dict(), table=lambda _: _table({"registered": result.target.id, "verification": result.verification}))


def register(root: Any) -> None:
    """``amlws mlv2 ...`` and the top-level ``amlws traffic`` (the name issue 15 gives it)."""
    group = typer.Typer(help=GROUP_HELP, no_args_is_help=True)
    group.command("traffic")(traffic_cmd)
    subgroups = {
        "endpoints": ("Online endpoints: list, get, keys. (Get-AzMLWorkspaceOnlineEndpoint)",
                      {"list": endpoints_list_cmd, "get": endpoints_get_cmd, "keys": endpoints_keys_cmd}),
        "deployments": ("Online deployments: list, get, logs, remove. (Get-/Remove-AzMLWorkspaceOnlineDeployment)",
                        {"list": deployments_list_cmd, "get": deployments_get_cmd, "logs": deployments_logs_cmd,
                         "remove": deployments_remove_cmd}),
        "models": ("Model versions: list, get, register. (New-AzMLWorkspaceModelVersion, az ml model)",
                   {"list": models_list_cmd, "get": models_get_cmd, "register": models_register_cmd}),
    }
    for name, (help_text, commands) in subgroups.items():
        sub = typer.Typer(help=help_text, no_args_is_help=True)
        for verb, command in commands.items():
            sub.command(verb)(command)
        group.add_typer(sub, name=name)
    from .jobs_commands import register as register_jobs

    register_jobs(group)  # amlws mlv2 jobs ... (plugins/mlv2/jobs_commands.py)
    root.add_typer(group, name="mlv2")
    root.command("traffic")(traffic_cmd)
