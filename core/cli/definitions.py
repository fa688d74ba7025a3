"""The five steps as commands (``get``, ``export``, ``import``, ``patch-model``/``patch-ilearner``,
``update``) and ``plugins``: each a few lines over :mod:`amlws.api` and the host."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError
from .application import AppContext, get_context
from .targets import BackendOpt, TargetInput, with_target_options


@with_target_options
def get_cmd(target: TargetInput) -> None:
    """Get a web service's definition, as its backend reads it. (Get-AzMlWebService, Get-AmlWebServiceEndpoint)

    Examples:
        Show a web service, then its whole definition as JSON
            amlws get TARGET
            amlws get TARGET -o json
    """
    ctx = get_context()
    t = target.resolve(ctx)
    definition = ctx.host.get_definition(t)
    from ..redact import redact_obj
    from ..summary import summarize

    # SAS signatures and keys masked on display (amlws export --include-keys has them)
    ctx.emit(redact_obj(definition.document), table=lambda _: _table(summarize(definition, ctx.host)))


def _table(data: Any) -> None:
    from ..output import render_table

    render_table(data)


@with_target_options
def export_cmd(
    target: TargetInput,
    output_file: Annotated[Path | None, typer.Option("--output-file", "-f", help="Write here (atomically); default: print the JSON.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output file without asking.")] = False,
    include_keys: Annotated[bool, typer.Option("--include-keys", help="Keep API keys in the export (off by default).")] = False,
) -> None:
    """Export a definition to JSON. (Get- + Export-AzMlWebService -OutputFile / -ToJsonString)

    Examples:
        Export a web service for patch-ilearner and update; or to stdout
            amlws export TARGET --output-file svc.json
            amlws export TARGET
    """
    from .. import api
    from ..output import emit_document

    ctx = get_context()
    t = target.resolve(ctx)
    definition = ctx.host.get_definition(t)
    if output_file is None:
        emit_document(ctx.host.export(definition, include_keys=include_keys), output=ctx.settings.output, query=ctx.settings.query)
        _note_export(ctx, t, definition, None)
        return
    if ctx.settings.what_if:
        ctx.emit({"whatIf": True, "wouldWrite": str(output_file), "target": t.id})
        return
    path = api.export_to_file(ctx.host, definition, output_file, force=force or ctx.settings.yes, include_keys=include_keys)
    _note_export(ctx, t, definition, str(path))
    ctx.emit({"target": t.id, "backend": t.backend, "outputFile": str(path)})


def _note_export(ctx: AppContext, target: Any, definition: Any, file: str | None) -> None:
    """Remember what was exported, so that ``amlws update`` can tell if the service changed since."""
    from ..safety.rollback import note_export

    note_export(ctx.host, target, definition, file=file)


def import_cmd(
    input_file: Annotated[Path | None, typer.Option("--input-file", "-i", help="Definition JSON file.")] = None,
    json_string: Annotated[str | None, typer.Option("--json-string", help="Definition as a JSON string.")] = None,
    output_file: Annotated[Path | None, typer.Option("--output-file", "-f", help="Write the normalised definition here.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output file without asking.")] = False,
    backend: BackendOpt = None,
) -> None:
    """Validate a definition and print it normalised. (Import-AzMlWebService -InputFile / -JsonString)

    Examples:
        Validate a patched export (sends nothing)
            amlws import --input-file svc.json
        Validate and write the normalised definition
            amlws import -i svc.json --output-file svc.normalised.json
    """
    from .. import api

    ctx = get_context()
    definition = api.load_definition(ctx.host, input_file=input_file, json_string=json_string, backend=backend)
    if output_file is not None:
        api.write_json(output_file, definition.document, force=force or ctx.settings.yes, settings=ctx.settings)
    from ..output import emit_document
    from ..redact import redact_obj

    # the printed copy has SAS signatures masked; the --output-file copy is complete
    emit_document(redact_obj(definition.document), output=ctx.settings.output, query=ctx.settings.query)


def patch_ilearner_cmd(
    definition_file: Annotated[Path, typer.Argument(help="Exported definition file to patch.")],
    uri: Annotated[str | None, typer.Option("--uri", help="Full blob URL of the new .ilearner (with its SAS).")] = None,
    bes_result: Annotated[str | None, typer.Option("--bes-result", help="BES job status/result JSON (file or string).")] = None,
    output_name: Annotated[str | None, typer.Option("--output-name", help="BES output holding the model (when several).")] = None,
    base_location: Annotated[str | None, typer.Option("--base-location", help="BES BaseLocation.")] = None,
    relative_location: Annotated[str | None, typer.Option("--relative-location", help="BES RelativeLocation.")] = None,
    sas_blob_token: Annotated[str | None, typer.Option("--sas-blob-token", help="BES SasBlobToken (env AMLWS_SAS_BLOB_TOKEN).", envvar="AMLWS_SAS_BLOB_TOKEN")] = None,
    asset: Annotated[str | None, typer.Option("--asset", "--resource", help="Which trained model, when the definition has several (the backend's asset or resource name).")] = None,
    output_file: Annotated[Path | None, typer.Option("--output-file", "-f", help="Write the patched definition here (default: in place).")] = None,
    allow_http: Annotated[bool, typer.Option("--allow-http", help="Accept a plain-http model URL (old samples); its SAS travels unencrypted.")] = False,
    backend: BackendOpt = None,
) -> None:
    """Point a definition's trained model at a new .ilearner (the walkthrough's hand edit). Sends nothing.

    Examples:
        Point the [trained model] at a blob URL with its SAS
            amlws patch-ilearner svc.json --uri "https://acct.blob.core.windows.net/models/new.ilearner?sv=...&sig=..."
        Take the model location from a BES job's results file
            amlws patch-ilearner svc.json --bes-result status.json --output-name output1
    """
    from .. import api

    ctx = get_context()
    location = api.model_location_from(uri=uri, bes_result=bes_result, output_name=output_name, base_location=base_location,
                                       relative_location=relative_location, sas_blob_token=sas_blob_token)

    def patch(definition: Any) -> tuple[Any, str]:
        patched = ctx.host.patch_ilearner(definition, location, selector=asset, allow_http=allow_http)
        # the reference as written (an asset built from a BES result may have no SAS), not as given
        return patched, api.written_model_uri(ctx.host, patched, location)

    ctx.emit(api.patch_file(ctx.host, definition_file, patch, output_file=output_file, backend=backend))


def patch_model_cmd(
    definition_file: Annotated[Path, typer.Argument(help="Exported definition file to patch.")],
    model: Annotated[str, typer.Option("--model", help="The new model, as the definition's backend reads it: a model version (azureml:NAME:VERSION) or, for a Studio service, the .ilearner blob URL with its SAS.")],
    asset: Annotated[str | None, typer.Option("--asset", "--resource", help="Which model to repoint when the definition holds several.")] = None,
    output_file: Annotated[Path | None, typer.Option("--output-file", "-f", help="Write the patched definition here (default: in place).")] = None,
    allow_http: Annotated[bool, typer.Option("--allow-http", help="Accept a plain-http model URL (old samples); its SAS travels unencrypted.")] = False,
    backend: BackendOpt = None,
) -> None:
    """Point a definition at a new model: a model version, or a Studio service's .ilearner. Sends nothing.

    Examples:
        Point an Azure ML online deployment's definition at version 2 of a model
            amlws patch-model deployment.json --model azureml:bike-rental:2
        Point a Studio web service's [trained model] at a new .ilearner (as patch-ilearner --uri)
            amlws patch-model svc.json --model "https://acct.blob.core.windows.net/models/new.ilearner?sv=...&sig=..."
    """
    from .. import api

    ctx = get_context()
    out = api.patch_file(ctx.host, definition_file, lambda d: api.patch_model(ctx.host, d, model, selector=asset, allow_http=allow_http),
                         output_file=output_file, backend=backend)
    ctx.emit(out)


@with_target_options
def update_cmd(
    target: TargetInput,
    service_updates: Annotated[Path | None, typer.Option("--service-updates", "--definition-file", help="Definition JSON to send (from export/import/patch-ilearner).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Send even if the service changed since export, or the definition was exported from (or describes) another service.")] = False,
    allow_http: Annotated[bool, typer.Option("--allow-http", help="Accept a plain-http model URL (old samples); its SAS travels unencrypted.")] = False,
    check_model: Annotated[bool, typer.Option("--check-model/--no-check-model", envvar="AMLWS_CHECK_MODEL", help="HEAD the new .ilearner blob with its SAS before sending; 404/403 refuse the update.")] = True,
) -> None:
    """Update a service with a definition, wait for it to apply, verify. (Update-AzMlWebService -ServiceUpdates)

    Examples:
        Update a web service from a patched export
            amlws update TARGET --service-updates svc.json
        Show the requests and the diff; send nothing
            amlws update TARGET --service-updates svc.json --what-if
    """
    from .. import api

    ctx = get_context()
    if service_updates is None:
        raise UsageError("--service-updates FILE is required", hint="export the definition, patch it, then pass the file")
    t = target.resolve(ctx)
    definition = api.load_definition(ctx.host, input_file=service_updates, backend=t.backend)
    if force:
        ctx.settings.flags["force"] = True
    if ctx.settings.what_if:
        live = ctx.host.get_definition(t)
        plan = api.plan_update(ctx.host, t, definition, live_document=ctx.host.export(live), live=live, check_model=check_model)
        conflicts = api.update_conflicts(ctx.host, t, definition, live, file=service_updates)
        if conflicts:  # the real update would stop here (exit 5) unless --force
            plan["conflict"] = "; ".join(conflicts)
        ctx.emit(plan, table=_print_plan)
        return
    ctx.confirm(f"Update {t.id}?")
    result = api.update(ctx.host, t, definition, check_export=True, allow_http=allow_http, check_model=check_model,
                        source_file=service_updates)
    ctx.emit(result.to_dict())


def _print_plan(plan: dict[str, Any]) -> None:
    out = sys.stdout
    out.write(f"What if: would update {plan['target']}\n")
    if plan.get("conflict"):
        out.write(f"  refused without --force: {plan['conflict']}\n")
    for r in plan["requests"]:
        out.write(f"  {r['method']} {r['url']}\n")
    out.write(plan["diff"] or "(no change to the definition)\n")



def plugins_cmd() -> None:
    """List installed plugins, their versions and the hooks each implements.

    Examples:
        Which backends are installed
            amlws plugins
            amlws plugins -o json --query "[].name"
    """
    ctx = get_context()
    data = ctx.host.plugins()
    ctx.emit(data, table=lambda rows: _table([{**r, "hooks": ", ".join(h.removeprefix("amlws_") for h in r["hooks"])} for r in rows]))


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.command("get")(get_cmd)
    app.command("export")(export_cmd)
    app.command("import")(import_cmd)
    app.command("patch-ilearner")(patch_ilearner_cmd)
    app.command("patch-model")(patch_model_cmd)
    app.command("update")(update_cmd)
    app.command("plugins")(plugins_cmd)
