"""``amlws classic ...``: the AzureMLPS web-service and endpoint cmdlets, each a few lines over :mod:`.ops`.

Imported only when the CLI registers commands; ``requests`` is imported lazily by the client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

UrlArg = Annotated[str | None, typer.Argument(help="Management URL of the web service or endpoint (instead of --workspace/--service/--endpoint).", show_default=False)]
WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", "--workspace-id", help="Workspace ID (AZURE ML Studio, 32 hex). Default: setting 'workspace'.")]
ServiceOpt = Annotated[str | None, typer.Option("--service", "--web-service-id", help="Web service ID (32 hex).")]
EndpointOpt = Annotated[str | None, typer.Option("--endpoint", "--endpoint-name", help="Endpoint name.")]
LocationOpt = Annotated[str | None, typer.Option("--location", help="Workspace region, e.g. 'South Central US', 'West Europe'. Default: setting 'location'.")]
ShowKeysOpt = Annotated[bool, typer.Option("--show-keys", help="Include the endpoints' API keys (PrimaryKey, SecondaryKey) in the output.")]
ConfigFileOpt = Annotated[Path | None, typer.Option("--config-file", help="AzureMLPS config.json (WorkspaceId, AuthorizationToken, Location).")]


def _ctx(config_file: Path | None) -> Any:
    from amlws.cli.application import get_context

    ctx = get_context()
    if config_file is not None:
        ctx.settings.flags["classic_config_file"] = str(config_file)
    return ctx


def _ref(ctx: Any, url: str | None, workspace: str | None, service: str | None, endpoint: str | None,
         location: str | None, *, need_service: bool = True, need_endpoint: bool = False) -> Any:
    from amlws.errors import UsageError

    from .backend import ref_from

    ref = ref_from(ctx.settings, url, workspace=workspace, service=service, endpoint=endpoint, location=location,
                   need_service=need_service)
    if need_endpoint and not ref.endpoint:
        raise UsageError("no endpoint name given", hint="pass --endpoint NAME (or an endpoint URL)")
    return ref


def _confirm(ctx: Any) -> Any:
    return None if ctx.settings.yes else ctx.confirm


def _emit_message(ctx: Any, data: dict[str, Any]) -> None:
    def table(d: Any) -> None:
        if isinstance(d, dict) and d.get("whatIf"):
            typer.echo("What if: would send")
            for r in d["requests"]:
                body = r.get("body")
                if body is not None and not isinstance(body, str):
                    body = json.dumps(body, ensure_ascii=False)
                typer.echo(f"  {r['method']} {r['url']}" + (f"\n    {body}" if body is not None else ""))
            return
        typer.echo(d.get("message", "") if isinstance(d, dict) else str(d))

    if data.get("whatIf"):
        from amlws.api import redact_request

        data = {**data, "requests": [redact_request(r) for r in data["requests"]]}
    ctx.emit(data, table=table)


SERVICE_COLUMNS = ["Id", "Name", "DefaultEndpointName", "EndpointCount", "CreationTime"]
ENDPOINT_COLUMNS = ["Name", "ThrottleLevel", "MaxConcurrentCalls", "CreationTime", "Description"]


def _strip_keys(obj: Any) -> Any:
    # Tables never show API keys; JSON output carries what the service returned.
    if isinstance(obj, list):
        return [_strip_keys(o) for o in obj]
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if str(k).lower() not in ("primarykey", "secondarykey")}
    return obj


def register(app: typer.Typer) -> None:
    """Add ``amlws classic ...`` to ``app`` (once: a second call is a no-op)."""
    if any(getattr(g, "name", None) == "classic" for g in getattr(app, "registered_groups", [])):
        return
    classic = typer.Typer(help="Classic (Studio) web services and endpoints: the AzureMLPS cmdlets.\n\nExamples:\n    Services of the configured workspace, then one service's endpoints\n        amlws classic services list\n        amlws classic endpoints list --workspace WS --service SVC", no_args_is_help=True)
    services = typer.Typer(help="Classic web services (Get-/Remove-AmlWebService).\n\nExamples:\n    List them as TSV for a script\n        amlws classic services list -o tsv", no_args_is_help=True)
    endpoints = typer.Typer(help="Classic web-service endpoints (Get-/Add-/Remove-/Refresh-AmlWebServiceEndpoint).\n\nExamples:\n    Add an endpoint, then list them\n        amlws classic endpoints add --workspace WS --service SVC --endpoint ep2\n        amlws classic endpoints list --workspace WS --service SVC", no_args_is_help=True)
    config = typer.Typer(help="AzureMLPS configuration.\n\nExamples:\n    Use an AzureMLPS config.json as profile studio\n        amlws classic config import config.json --to-profile studio", no_args_is_help=True)
    classic.add_typer(services, name="services")
    classic.add_typer(endpoints, name="endpoints")
    classic.add_typer(config, name="config")
    app.add_typer(classic, name="classic")

    @services.command("list")
    def services_list(workspace: WorkspaceOpt = None, location: LocationOpt = None, config_file: ConfigFileOpt = None) -> None:
        """List the workspace's web services. (Get-AmlWebService)

        Examples:
            Web services of the configured workspace
                amlws classic services list
                amlws classic services list --workspace WS --location 'West Europe' -o tsv
        """
        from . import ops
        from .backend import ref_from

        ctx = _ctx(config_file)
        ref = ref_from(ctx.settings, workspace=workspace, location=location, need_service=False)
        rows = ops.list_services(ctx.settings, ref)
        ctx.emit(rows, columns=SERVICE_COLUMNS)

    @services.command("get")
    def services_get(url: UrlArg = None, workspace: WorkspaceOpt = None, service: ServiceOpt = None,
                     location: LocationOpt = None, config_file: ConfigFileOpt = None) -> None:
        """Show one web service. (Get-AmlWebService -WebServiceId)

        Examples:
            By id
                amlws classic services get --workspace WS --service SVC
        """
        from . import ops

        ctx = _ctx(config_file)
        ref = _ref(ctx, url, workspace, service, None, location)
        ctx.emit(ops.get_service(ctx.settings, ref.with_endpoint(None)))

    @services.command("remove")
    def services_remove(url: UrlArg = None, workspace: WorkspaceOpt = None, service: ServiceOpt = None,
                        location: LocationOpt = None, config_file: ConfigFileOpt = None) -> None:
        """Delete a web service and its endpoints. (Remove-AmlWebService)

        Examples:
            Delete without a prompt
                amlws classic services remove --workspace WS --service SVC --yes
        """
        from . import ops

        ctx = _ctx(config_file)
        ref = _ref(ctx, url, workspace, service, None, location).with_endpoint(None)
        _emit_message(ctx, ops.remove_service(ctx.host, ref, what_if=ctx.settings.what_if, confirm=_confirm(ctx)))

    @endpoints.command("list")
    def endpoints_list(url: UrlArg = None, workspace: WorkspaceOpt = None, service: ServiceOpt = None,
                       location: LocationOpt = None, show_keys: ShowKeysOpt = False, config_file: ConfigFileOpt = None) -> None:
        """List a web service's endpoints. (Get-AmlWebServiceEndpoint -WebServiceId)

        Examples:
            Endpoints, with their keys
                amlws classic endpoints list --workspace WS --service SVC --show-keys -o json
        """
        from . import ops

        ctx = _ctx(config_file)
        ref = _ref(ctx, url, workspace, service, None, location)
        rows = ops.list_endpoints(ctx.settings, ref, show_keys=show_keys)
        ctx.emit(rows, table=lambda r: _table(_strip_keys(r), ENDPOINT_COLUMNS))

    @endpoints.command("get")
    def endpoints_get(url: UrlArg = None, workspace: WorkspaceOpt = None, service: ServiceOpt = None,
                      endpoint: EndpointOpt = None, location: LocationOpt = None, show_keys: ShowKeysOpt = False,
                      config_file: ConfigFileOpt = None) -> None:
        """Show one endpoint, with its Resources. (Get-AmlWebServiceEndpoint -EndpointName)

        Examples:
            By management URL
                amlws classic endpoints get https://management.azureml.net/workspaces/WS/webservices/SVC/endpoints/default
        """
        from . import ops

        ctx = _ctx(config_file)
        ref = _ref(ctx, url, workspace, service, endpoint, location, need_endpoint=True)
        doc = ops.get_endpoint(ctx.settings, ref, show_keys=show_keys)
        ctx.emit(doc, table=lambda d: _table(_strip_keys(d)))

    @endpoints.command("add")
    def endpoints_add(
        url: UrlArg = None,
        workspace: WorkspaceOpt = None,
        service: ServiceOpt = None,
        endpoint: EndpointOpt = None,
        description: Annotated[str | None, typer.Option("--description", help="Endpoint description.")] = None,
        throttle_level: Annotated[str, typer.Option("--throttle-level", help="Low (free and standard) or High (standard only).")] = "Low",
        max_concurrent_calls: Annotated[int | None, typer.Option("--max-concurrent-calls", help="1-200, with --throttle-level High (Low means 4).")] = None,
        prevent_update: Annotated[bool, typer.Option("--prevent-update", help="Protect the endpoint from updates (PreventUpdate).")] = False,
        location: LocationOpt = None,
        config_file: ConfigFileOpt = None,
    ) -> None:
        """Add an endpoint to a (predictive) web service. (Add-AmlWebServiceEndpoint)

        Examples:
            A high-throughput endpoint
                amlws classic endpoints add --workspace WS --service SVC --endpoint ep2 --throttle-level High --max-concurrent-calls 20
        """
        from . import ops

        ctx = _ctx(config_file)
        ref = _ref(ctx, url, workspace, service, endpoint, location, need_endpoint=True)
        data = ops.add_endpoint(ctx.host, ref, description=description, throttle_level=throttle_level,
                                max_concurrent_calls=max_concurrent_calls, prevent_update=prevent_update,
                                what_if=ctx.settings.what_if, confirm=_confirm(ctx))
        _emit_message(ctx, data)

    @endpoints.command("remove")
    def endpoints_remove(url: UrlArg = None, workspace: WorkspaceOpt = None, service: ServiceOpt = None,
                         endpoint: EndpointOpt = None, location: LocationOpt = None, config_file: ConfigFileOpt = None) -> None:
        """Delete an endpoint. (Remove-AmlWebServiceEndpoint)

        Examples:
            Delete ep2
                amlws classic endpoints remove --workspace WS --service SVC --endpoint ep2 --yes
        """
        from . import ops

        ctx = _ctx(config_file)
        ref = _ref(ctx, url, workspace, service, endpoint, location, need_endpoint=True)
        _emit_message(ctx, ops.remove_endpoint(ctx.host, ref, what_if=ctx.settings.what_if, confirm=_confirm(ctx)))

    @endpoints.command("refresh")
    def endpoints_refresh(
        url: UrlArg = None,
        workspace: WorkspaceOpt = None,
        service: ServiceOpt = None,
        endpoint: EndpointOpt = None,
        overwrite_resources: Annotated[bool, typer.Option("--overwrite-resources", help="Also replace the trained model with the predictive experiment's.")] = False,
        location: LocationOpt = None,
        config_file: ConfigFileOpt = None,
    ) -> None:
        """Re-apply the default endpoint's graph to a non-default endpoint. (Refresh-AmlWebServiceEndpoint)

        Examples:
            Refresh ep2, keeping its trained model
                amlws classic endpoints refresh --workspace WS --service SVC --endpoint ep2
        """
        from . import ops

        ctx = _ctx(config_file)
        ref = _ref(ctx, url, workspace, service, endpoint, location, need_endpoint=True)
        _emit_message(ctx, ops.refresh_endpoint(ctx.host, ref, overwrite_resources=overwrite_resources,
                                                what_if=ctx.settings.what_if, confirm=_confirm(ctx)))

    @config.command("import")
    def config_import(
        config_json: Annotated[Path, typer.Argument(help="AzureMLPS config.json.")],
        to_profile: Annotated[str | None, typer.Option("--to-profile", help="Profile to write (default: the current profile).")] = None,
    ) -> None:
        """Turn an AzureMLPS config.json into an amlws profile (workspace, location, workspace_token).

        Examples:
            Import into profile studio
                amlws classic config import config.json --to-profile studio
        """
        from amlws.cli.application import get_context

        from .azuremlps import import_config

        ctx = get_context()
        if ctx.settings.what_if:
            ctx.emit({"whatIf": True, "wouldWrite": to_profile or ctx.settings.profile})
            return
        data = import_config(config_json, to_profile or ctx.settings.profile)
        data["message"] = f"Imported {config_json} into profile {data['profile']!r} ({data['path']})."
        ctx.emit(data, table=lambda d: typer.echo(d["message"]))


def _table(data: Any, columns: Any = None) -> None:
    from amlws.output import render_table

    render_table(data, columns=columns)
