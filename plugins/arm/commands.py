"""``amlws arm ...``: ``list``, ``new``, ``remove``, ``keys``, ``add-region``.

The same commands stay at the top level (``amlws list``...) as hidden aliases, so that scripts
written before the group keep working. ``get``/``export``/``import``/``patch-ilearner``/``update``
are core commands that reach this backend through the host. Each command here is a few lines over :mod:`.service`;
azure SDKs are imported only when a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from amlws.cli import TargetInput, with_target_options

TargetArg = Annotated[
    str | None, typer.Argument(help="Web service resource ID (or use -g/-n).", show_default=False)
]
ResourceGroupOpt = Annotated[str | None, typer.Option("--resource-group", "-g", help="Resource group (with --name).")]
NameOpt = Annotated[str | None, typer.Option("--name", "-n", help="Web service name (with --resource-group).")]
SubscriptionOpt = Annotated[str | None, typer.Option("--subscription", help="Subscription ID (AZURE_SUBSCRIPTION_ID).")]
CloudOpt = Annotated[
    str | None, typer.Option("--cloud", help="AzureCloud, AzureChinaCloud or AzureUSGovernment (AMLWS_CLOUD).")
]


def _ctx(cloud: str | None) -> Any:
    from amlws.cli.application import get_context

    ctx = get_context()
    if cloud:
        ctx.settings.flags["cloud"] = cloud
    return ctx


#: The TARGET argument and -g/-n/--subscription of every command acting on one web service
#: (``--cloud`` stays the command's own keyword-only parameter, so it comes after them in --help).
arm_target = with_target_options(
    target=TargetArg,
    options={"resource_group": ResourceGroupOpt, "name": NameOpt, "subscription": SubscriptionOpt},
    backend="arm",
)


def _target(ctx: Any, target: TargetInput) -> Any:
    subscription = target.options.get("subscription")
    if subscription:
        ctx.settings.flags["subscription"] = subscription
    return target.resolve(ctx)


def _what_if(ctx: Any, target: Any, requests: list[dict[str, Any]], diff: str = "") -> None:
    from amlws.api import redact_request

    plan = {"whatIf": True, "target": target.id, "requests": [redact_request(r) for r in requests], "diff": diff}

    def table(p: dict[str, Any]) -> None:
        out = sys.stdout
        out.write(f"What if: {p['target']}\n")
        for r in p["requests"]:
            out.write(f"  {r['method']} {r['url']}\n")
        if p["diff"]:
            out.write(p["diff"])

    ctx.emit(plan, table=table)


def list_cmd(
    resource_group: ResourceGroupOpt = None,
    subscription: SubscriptionOpt = None,
    cloud: CloudOpt = None,
) -> None:
    """List ARM web services in a resource group or the subscription. (Get-AzMlWebService [-ResourceGroupName])

    Examples:
        Web services of a resource group; ids only, for scripts
            amlws arm list -g MyRG
            amlws arm list -g MyRG --query "[].id" -o tsv
    """
    from .service import list_services

    ctx = _ctx(cloud)
    items = list_services(ctx.settings, resource_group=resource_group, subscription=subscription)
    rows = [
        {
            "name": i.get("name"),
            "location": i.get("location"),
            "provisioningState": (i.get("properties") or {}).get("provisioningState"),
            "title": (i.get("properties") or {}).get("title"),
            "id": i.get("id"),
        }
        for i in items
    ]
    from amlws.output import render_table
    from amlws.redact import redact_obj

    # SAS signatures and keys masked on display, as `get` does: a large service's
    # payloadsLocation.credentials is a read SAS for its whole definition.
    ctx.emit(redact_obj(items), table=lambda _: render_table(rows))


@arm_target
def new_cmd(
    target: TargetInput,
    definition_file: Annotated[Path | None, typer.Option("--definition-file", "-i", help="Definition JSON (from export/import).")] = None,
    location: Annotated[str | None, typer.Option("--location", "-l", help="Azure region, e.g. 'South Central US' (overrides the file's).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the web service if it exists (PUT replaces it).")] = False,
    *,
    cloud: CloudOpt = None,
) -> None:
    """Create a web service from a definition file. (New-AzMlWebService -DefinitionFile)

    Examples:
        Create a web service from an export
            amlws arm new -g MyRG -n MyService2 --definition-file svc.json --location 'South Central US'
    """
    from amlws import api

    from .service import create, plan_create

    ctx = _ctx(cloud)
    if definition_file is None:
        from amlws.errors import UsageError

        raise UsageError("--definition-file FILE is required", hint="export a definition first (amlws export ... -f FILE)")
    t = _target(ctx, target)
    definition = api.load_definition(ctx.host, input_file=definition_file, backend="arm")
    if ctx.settings.what_if:
        plan = plan_create(t, definition, ctx.settings, location=location, force=force)
        _what_if(ctx, t, plan, api.definition_diff(None, plan[-2]["body"], fromfile="(none)", tofile=t.id))
        return
    ctx.confirm(f"Create web service {t.id}" + (" (overwriting it if it exists)?" if force else "?"))
    created = create(ctx.host, t, definition, location=location, force=force)
    ctx.emit(created.document, table=lambda _: _summary(created))


@arm_target
def remove_cmd(
    target: TargetInput,
    *,
    cloud: CloudOpt = None,
) -> None:
    """Delete a web service. (Remove-AzMlWebService)

    Examples:
        Delete without a prompt
            amlws arm remove -g MyRG -n MyService --yes
    """
    from .service import plan_remove, remove

    ctx = _ctx(cloud)
    t = _target(ctx, target)
    if ctx.settings.what_if:
        _what_if(ctx, t, plan_remove(t, ctx.settings))
        return
    ctx.confirm(f"Delete web service {t.id}? This cannot be undone")
    remove(ctx.host, t)
    ctx.emit({"target": t.id, "removed": True})


@arm_target
def keys_cmd(
    target: TargetInput,
    *,
    cloud: CloudOpt = None,
) -> None:
    """Print the web service's API keys (secrets: printed only because you asked). (Get-AzMlWebServiceKey)

    Examples:
        The primary key, for a script
            amlws arm keys -g MyRG -n MyService --query primary -o tsv
    """
    from .service import list_keys

    ctx = _ctx(cloud)
    t = _target(ctx, target)
    ctx.emit(list_keys(t, ctx.settings))


@arm_target
def add_region_cmd(
    target: TargetInput,
    region: Annotated[str | None, typer.Option("--region", help="Region to create the encrypted credentials for.")] = None,
    *,
    cloud: CloudOpt = None,
) -> None:
    """Create the regional properties of a web service, then get it in that region. (Add-AzMlWebServiceRegionalProperty)

    Examples:
        Add Southeast Asia
            amlws arm add-region -g MyRG -n MyService --region 'Southeast Asia' --yes
    """
    from amlws.errors import UsageError

    from .service import add_region, plan_add_region

    ctx = _ctx(cloud)
    if not region:
        raise UsageError("--region is required", hint="e.g. amlws arm add-region ID --region 'Southeast Asia'")
    t = _target(ctx, target)
    if ctx.settings.what_if:
        _what_if(ctx, t, plan_add_region(t, ctx.settings, region))
        return
    ctx.confirm(f"Create regional properties of {t.id} for {region}?")
    definition = add_region(ctx.host, t, region)
    ctx.emit(definition.document, table=lambda _: _summary(definition))


def _summary(definition: Any) -> None:
    from amlws.cli.application import get_context
    from amlws.output import render_table
    from amlws.summary import summarize

    render_table(summarize(definition, get_context().host))


COMMANDS = {"list": list_cmd, "new": new_cmd, "remove": remove_cmd, "keys": keys_cmd, "add-region": add_region_cmd}

GROUP_HELP = """ARM (new) web services: list, create, delete, keys, regional properties. (Az.MachineLearning)

Examples:
    List the web services of a resource group; create one from an export
        amlws arm list -g MyRG
        amlws arm new -g MyRG -n MyService2 --definition-file svc.json
"""


def register(app: typer.Typer) -> None:
    """``amlws arm ...``, and the same commands at the top level as hidden aliases (``amlws list``...)."""
    group = typer.Typer(help=GROUP_HELP, no_args_is_help=True)
    for name, command in COMMANDS.items():
        group.command(name)(command)
        app.command(name, hidden=True)(command)  # the names before the group: same options, output, exit codes
    app.add_typer(group, name="arm")
