"""The ``amlws`` command line: a thin Typer layer over :mod:`amlws.api`.

One error boundary (:func:`main`) maps :class:`~amlws.errors.AmlwsError` to the
documented exit codes. Global options (``-o``, ``--query``, ``--profile``, ``-v``,
``--debug``, ``--yes``, ``--what-if``, ``--timeout``) may stand anywhere on the command
line, as in ``az``. Azure SDKs are imported only inside the commands that need them.
"""

import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from .. import __version__
from ..errors import AmlwsError, ExitCode, UsageError
from .help import AmlwsGroup, style_commands

HELP = """Retrain Azure ML Studio models and update classic and ARM web services.

Examples:
    The retraining walkthrough for an ARM web service
        amlws export -g MyRG -n MyService --output-file svc.json
        amlws patch-ilearner svc.json --uri "https://acct.blob.core.windows.net/models/new.ilearner?sv=...&sig=..."
        amlws update -g MyRG -n MyService --service-updates svc.json
    Upload, train, evaluate, gate and deploy in one command
        amlws retrain --training-service URL --target ID --data train.csv --gate "Accuracy>=0.85"
"""

app = typer.Typer(
    name="amlws",
    cls=AmlwsGroup,
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Show and change amlws settings (profiles in the config file).\n\nExamples:\n    Set a value in profile prod, then show where each setting comes from\n        amlws --profile prod config set subscription SUB\n        amlws --profile prod config show", no_args_is_help=True)
app.add_typer(config_app, name="config")

#: Core command modules with a ``register(app)`` function (import-light at module level).
BUILTIN_COMMAND_MODULES: list[str] = ["amlws.cli.retrain", "amlws.emulator.cli", "amlws.cli.safety", "amlws.cli.fleet"]


class AppContext:
    """Per-invocation state shared by every command, built-in or from a plugin."""

    def __init__(self, settings: Any, pm: Any) -> None:
        self.settings = settings
        self._pm = pm
        self._host: Any = None

    @property
    def host(self) -> Any:
        if self._host is None:
            from ..host import Host

            self._host = Host(self._pm, self.settings)
        return self._host

    def emit(self, data: Any, **kwargs: Any) -> None:
        from ..output import emit

        emit(data, output=self.settings.output, query=self.settings.query, **kwargs)

    def confirm(self, question: str) -> None:
        from ..api import confirm
        from ..progress import current

        current().pause()  # a live progress line must not overwrite the prompt
        confirm(self.settings, question)

    def resolve(self, target: str | None, backend: str | None = None, **options: Any) -> Any:
        return self.host.resolve(target, backend=backend, options=options)


_context: AppContext | None = None
_pm: Any = None


def get_context() -> AppContext:
    """The current invocation's :class:`AppContext` (for plugin commands)."""
    if _context is None:
        raise RuntimeError("amlws CLI context is not initialised")
    return _context


# --- global options -------------------------------------------------------------------

_VALUE_OPTIONS = {"-o": "--output", "--output": "--output", "--query": "--query", "--profile": "--profile", "--timeout": "--timeout"}
_FLAG_OPTIONS = {"-v", "--verbose", "--debug", "-y", "--yes", "--what-if"}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options to the front so they work anywhere (``amlws get X -o json``)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = arg.split("=", 1)[0]
        if arg.startswith("-o") and not arg.startswith("--") and len(arg) > 2:  # -otsv, as -o tsv
            front.append(arg)
        elif name in _VALUE_OPTIONS:
            if "=" in arg:
                front.append(arg)
            elif i + 1 < len(argv):
                front.extend([arg, argv[i + 1]])
                i += 1
            else:
                rest.append(arg)
        elif arg in _FLAG_OPTIONS:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"amlws {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    typer_ctx: typer.Context,
    output: Annotated[str, typer.Option("--output", "-o", metavar="FORMAT", help="Output format: table, json, tsv (values only, tab-separated, as az) or none (exit code only). json and tsv are alone on stdout.")] = "table",
    query: Annotated[str | None, typer.Option("--query", metavar="JMESPATH", help="JMESPath query over the JSON result (as in az).")] = None,
    profile: Annotated[str | None, typer.Option("--profile", metavar="NAME", help="Config profile to use (AMLWS_PROFILE).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what amlws does to stderr (the state of long waits is always shown there).")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Trace HTTP and show tracebacks (secrets redacted).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    what_if: Annotated[bool, typer.Option("--what-if", help="Show the requests and the change; send nothing.")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", metavar="SECONDS", help="Overall timeout in seconds for long operations.")] = None,
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")
    ] = None,
) -> None:
    """amlws: replace the Az.MachineLearning and AzureMLPS cmdlets for retraining and updating web services."""
    global _context
    from ..config import Settings
    from ..output import FORMATS, setup_logging

    if output not in FORMATS:
        raise UsageError(f"invalid --output {output!r}", hint="use -o " + ", -o ".join(FORMATS))
    setup_logging(verbose=verbose, debug=debug)
    settings = Settings.load(
        profile,
        # `amlws --profile new config set KEY VALUE` creates a profile: it may not exist yet.
        require_profile=typer_ctx.invoked_subcommand != "config",
        flags={"timeout": timeout},
        output=output,
        query=query,
        verbose=verbose,
        debug=debug,
        yes=yes,
        what_if=what_if,
        interactive=_stdin_is_tty(),
    )
    _context = AppContext(settings, _pm)


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


# --- target options shared by the five backend verbs -----------------------------------

TargetArg = Annotated[str | None, typer.Argument(help="ARM resource ID, classic endpoint management URL, or another backend's target.", show_default=False)]
BackendOpt = Annotated[str | None, typer.Option("--backend", help="Backend to use (see amlws plugins).")]
ResourceGroupOpt = Annotated[str | None, typer.Option("--resource-group", "-g", help="ARM resource group (with --name).")]
NameOpt = Annotated[str | None, typer.Option("--name", "-n", help="ARM web service name (with --resource-group).")]
SubscriptionOpt = Annotated[str | None, typer.Option("--subscription", help="ARM subscription ID (AZURE_SUBSCRIPTION_ID).")]
WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", help="Classic workspace ID.")]
ServiceOpt = Annotated[str | None, typer.Option("--service", help="Classic web service ID.")]
EndpointOpt = Annotated[str | None, typer.Option("--endpoint", help="Classic endpoint name.")]
LocationOpt = Annotated[str | None, typer.Option("--location", help="Classic workspace region, e.g. 'South Central US'.")]


#: The options naming a target, in ``--help`` order: what :func:`with_target_options` adds by default.
TARGET_OPTIONS: dict[str, Any] = {
    "backend": BackendOpt,
    "resource_group": ResourceGroupOpt,
    "name": NameOpt,
    "subscription": SubscriptionOpt,
    "workspace": WorkspaceOpt,
    "service": ServiceOpt,
    "endpoint": EndpointOpt,
    "location": LocationOpt,
}


class TargetInput(NamedTuple):
    """A target as typed on the command line, not yet resolved.

    :param text: the TARGET argument (ARM resource ID, management URL...), ``None`` when not given.
    :param backend: ``--backend`` (or the backend fixed by the command), ``None`` for any.
    :param options: the naming options (``resource_group``, ``name``, ``workspace``...), ``None`` when unset.
    """

    text: str | None
    backend: str | None
    options: dict[str, str | None]

    @property
    def given(self) -> bool:
        """Whether the user named a target at all (the argument or any naming option)."""
        return self.text is not None or any(v is not None for v in self.options.values())

    def resolve(self, ctx: AppContext | None = None) -> Any:
        """The :class:`~amlws.model.Target` the backends make of it (usage error when none or several claim it)."""
        return (ctx or get_context()).resolve(self.text, self.backend, **self.options)


def with_target_options(
    fn: Callable[..., Any] | None = None,
    *,
    target: Any = TargetArg,
    options: dict[str, Any] | None = None,
    backend: str | None = None,
) -> Any:
    """Give a command the TARGET argument and the target options, gathered in its ``target`` parameter.

    The command declares ``target: TargetInput`` (where the argument goes in ``--help``) and gets a
    :class:`TargetInput`; the options (default :data:`TARGET_OPTIONS`, name -> ``Annotated`` type) are
    appended after its other parameters but before keyword-only ones (after a bare ``*``).
    ``target=`` is the annotation of the TARGET parameter (an argument, or an option such as
    ``--target``); ``backend=`` fixes the backend for a command without ``--backend``.
    Use as ``@with_target_options`` or ``@with_target_options(options=..., backend="arm")``.
    """
    # Why: Typer reads a command's parameters from inspect.signature(), so the eight target
    # options can be declared once and spliced into each command's __signature__ instead of
    # repeated in every def. The command resolves (target.resolve()) when it chooses, so its
    # own checks (e.g. a missing --service-updates) still come first and keep their errors.
    extra = TARGET_OPTIONS if options is None else options

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        import functools
        import inspect

        sig = inspect.signature(fn, eval_str=True)
        if "target" not in sig.parameters or set(extra) & set(sig.parameters):
            raise TypeError(f"{fn.__qualname__}: needs a 'target' parameter and none named {sorted(extra)}")
        kw = inspect.Parameter.KEYWORD_ONLY  # Typer passes keywords; this kind allows any order
        own = [p.replace(kind=kw, annotation=target, default=None) if p.name == "target" else p.replace(kind=kw)
               for p in sig.parameters.values()]
        split = next((i for i, p in enumerate(sig.parameters.values()) if p.kind is p.KEYWORD_ONLY), len(own))
        params = own[:split] + [inspect.Parameter(n, kw, annotation=a, default=None) for n, a in extra.items()] + own[split:]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            named = {n: kwargs.pop(n, None) for n in extra}
            kwargs["target"] = TargetInput(kwargs.pop("target", None), named.pop("backend", None) or backend, named)
            return fn(**kwargs)

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}  # evaluated: no string for Typer to resolve
        return command

    return decorate if fn is None else decorate(fn)


@app.command("get")
@with_target_options
def get_cmd(
    target: TargetInput,
    region: Annotated[str | None, typer.Option("--region", help="ARM: region whose encrypted credentials to return.")] = None,
) -> None:
    """Get a web service (ARM) or endpoint (classic) definition. (Get-AzMlWebService, Get-AmlWebServiceEndpoint)

    Examples:
        Show an ARM web service
            amlws get -g MyRG -n MyService
        Show a classic endpoint's resources (trained model locations) as JSON
            amlws get https://management.azureml.net/workspaces/WS/webservices/SVC/endpoints/default -o json --query Resources
    """
    ctx = get_context()
    if region:
        ctx.settings.flags["region"] = region
    t = target.resolve(ctx)
    definition = ctx.host.get_definition(t)
    from ..redact import redact_obj
    from ..summary import summarize

    # SAS signatures and keys masked on display (amlws export --include-keys has them)
    ctx.emit(redact_obj(definition.document), table=lambda _: _table(summarize(definition)))


def _table(data: Any) -> None:
    from ..output import render_table

    render_table(data)


@app.command("export")
@with_target_options
def export_cmd(
    target: TargetInput,
    output_file: Annotated[Path | None, typer.Option("--output-file", "-f", help="Write here (atomically); default: print the JSON.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output file without asking.")] = False,
    include_keys: Annotated[bool, typer.Option("--include-keys", help="Keep API keys in the export (off by default).")] = False,
) -> None:
    """Export a definition to JSON. (Get- + Export-AzMlWebService -OutputFile / -ToJsonString)

    Examples:
        Export an ARM web service for patch-ilearner and update
            amlws export -g MyRG -n MyService --output-file svc.json
        Export a classic endpoint to stdout
            amlws export https://management.azureml.net/workspaces/WS/webservices/SVC/endpoints/default
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


@app.command("import")
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


@app.command("patch-ilearner")
def patch_ilearner_cmd(
    definition_file: Annotated[Path, typer.Argument(help="Exported definition file to patch.")],
    uri: Annotated[str | None, typer.Option("--uri", help="Full blob URL of the new .ilearner (with its SAS).")] = None,
    bes_result: Annotated[str | None, typer.Option("--bes-result", help="BES job status/result JSON (file or string).")] = None,
    output_name: Annotated[str | None, typer.Option("--output-name", help="BES output holding the model (when several).")] = None,
    base_location: Annotated[str | None, typer.Option("--base-location", help="BES BaseLocation.")] = None,
    relative_location: Annotated[str | None, typer.Option("--relative-location", help="BES RelativeLocation.")] = None,
    sas_blob_token: Annotated[str | None, typer.Option("--sas-blob-token", help="BES SasBlobToken (env AMLWS_SAS_BLOB_TOKEN).", envvar="AMLWS_SAS_BLOB_TOKEN")] = None,
    asset: Annotated[str | None, typer.Option("--asset", "--resource", help="Which trained-model asset (ARM) or resource (classic).")] = None,
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
    definition = api.load_definition(ctx.host, input_file=definition_file, backend=backend)
    patched = ctx.host.patch_ilearner(definition, location, selector=asset, allow_http=allow_http)
    out = output_file or definition_file
    if ctx.settings.what_if:
        ctx.emit({"whatIf": True, "wouldWrite": str(out), "diff": api.definition_diff(definition.document, patched.document, fromfile=str(definition_file), tofile=str(out))})
        return
    api.write_json(out, patched.document, force=True if output_file is None else ctx.settings.yes, settings=ctx.settings)
    from ..redact import redact
    from ..safety.rollback import carry_file_source

    carry_file_source(definition_file, out)
    # the reference as written (an ARM asset built from a BES result has no SAS), not as given
    ctx.emit({"file": str(out), "backend": patched.backend, "modelUri": redact(api.written_model_uri(ctx.host, patched, location))})


@app.command("update")
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
        Update an ARM web service from a patched export
            amlws update -g MyRG -n MyService --service-updates svc.json
        Show the requests and the diff; send nothing
            amlws update https://management.azureml.net/workspaces/WS/webservices/SVC/endpoints/ep2 --service-updates endpoint.json --what-if
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
    result = ctx.host.update(t, definition, check_export=True, allow_http=allow_http, check_model=check_model,
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


# --- plugins and config ------------------------------------------------------------------


@app.command("plugins")
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


@config_app.command("show")
def config_show() -> None:
    """Show the effective settings and where each comes from (secrets masked).

    Examples:
        Settings of the default profile and of another
            amlws config show
            amlws --profile prod config show -o json
    """
    from ..config import config_path

    ctx = get_context()
    if not ctx.settings.profile_exists and ctx.settings.profile != "default":
        from ..errors import ConfigError

        raise ConfigError(
            f"profile {ctx.settings.profile!r} not found in {config_path()}",
            hint=f"create it with: amlws --profile {ctx.settings.profile} config set KEY VALUE",
        )
    data = {"profile": ctx.settings.profile, "path": str(config_path()), "settings": ctx.settings.effective()}
    ctx.emit(data, table=lambda d: _table([{"setting": k, **v} for k, v in d["settings"].items()]))


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="Setting name, e.g. subscription, workspace, location.")],
    value: Annotated[str | None, typer.Argument(help="Value; omit for secrets to be prompted for.")] = None,
) -> None:
    """Set a setting in the current profile (--profile). Secrets: omit VALUE to type it hidden.

    Examples:
        Set the default subscription; type a secret hidden
            amlws config set subscription 00000000-0000-0000-0000-000000000000
            amlws config set api_key
    """
    from ..config import check_setting_name, is_secret_setting, set_profile_value

    ctx = get_context()
    known = ctx.host.settings_declared()
    key = check_setting_name(key, known=known)
    if ctx.settings.what_if:
        from ..config import config_path

        ctx.emit({"whatIf": True, "profile": ctx.settings.profile, "key": key, "wouldWrite": str(config_path())})
        return
    if value is None:
        if not is_secret_setting(key) or not ctx.settings.interactive:
            raise UsageError(f"no value given for {key}", hint=f"amlws config set {key} VALUE")
        import getpass

        value = getpass.getpass(f"{key}: ")
    path = set_profile_value(ctx.settings.profile, key, value, known=known)
    ctx.emit({"profile": ctx.settings.profile, "key": key, "path": str(path)})


@config_app.command("unset")
def config_unset(key: Annotated[str, typer.Argument(help="Setting name.")]) -> None:
    """Remove a setting from the current profile.

    Examples:
        Forget the stored API key of profile prod
            amlws --profile prod config unset api_key
    """
    from ..config import config_path, set_profile_value

    ctx = get_context()
    if ctx.settings.what_if:
        ctx.emit({"whatIf": True, "profile": ctx.settings.profile, "key": key, "wouldWrite": str(config_path())})
        return
    path = set_profile_value(ctx.settings.profile, key, None)
    ctx.emit({"profile": ctx.settings.profile, "key": key, "path": str(path), "removed": True})


@config_app.command("path")
def config_path_cmd() -> None:
    """Print the config file's path.

    Examples:
        Print the path; show the file
            amlws config path
            cat "$(amlws config path)"
    """
    from ..config import config_path

    typer.echo(str(config_path()))


# --- entry point and error boundary ---------------------------------------------------------

_registered = False


def register_commands(pm: Any) -> None:
    """Add built-in command modules and every plugin's commands (once per process)."""
    global _registered
    if _registered:
        return
    import importlib

    for module in BUILTIN_COMMAND_MODULES:
        importlib.import_module(module).register(app)
    from ..host import _call_impl, _plain_impls

    # One plugin whose commands fail to register must not take the whole CLI down.
    for impl in reversed(_plain_impls(pm.hook.amlws_register_commands)):
        try:
            _call_impl(impl, "amlws_register_commands", app=app)
        except AmlwsError as exc:
            import logging

            logging.getLogger("amlws").warning(
                "%s; its commands are unavailable (fix: %s)", exc.message, exc.hint or "update or disable the plugin"
            )
    _registered = True


def main(argv: list[str] | None = None, *, pm: Any = None) -> int:
    """Run the CLI; returns (and as a script exits with) the documented exit code."""
    global _pm, _context
    _context = None  # a context left by an earlier in-process run must not speak for this one
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    if args == ["--version"] and pm is None:  # fast path: plugins load (a broken one still warns), no command tree is built
        from ..host import get_plugin_manager
        from ..output import setup_logging

        setup_logging(verbose=False, debug=False)
        get_plugin_manager()
        sys.stdout.write(f"amlws {__version__}\n")
        if argv is None:
            sys.exit(0)
        return 0
    debug = "--debug" in args
    code = 0
    try:
        from ..output import setup_logging

        # Logging first, so that plugin-loading warnings are formatted and redacted.
        setup_logging(verbose="-v" in args or "--verbose" in args, debug=debug)
        if pm is None:
            from ..host import get_plugin_manager

            pm = get_plugin_manager()
        _pm = pm
        register_commands(pm)
        style_commands(app)  # examples, global options and named usage in every --help (plugin commands too)
        from ..progress import ConsoleProgress, reporting

        try:
            with reporting(ConsoleProgress(stream=sys.stderr)):  # state and elapsed time of long waits
                rv = app(args=args, prog_name="amlws", standalone_mode=False)
        except SystemExit as exc:  # sys.exit() inside a command
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:
            # With standalone_mode=False, typer returns the code of typer.Exit(code) (and 130
            # for Ctrl-C, which it turns into Exit(130)) instead of raising it.
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
            if code == int(ExitCode.INTERRUPTED):
                sys.stderr.write(_interrupted_line())
    except AmlwsError as exc:
        code = _report(exc, debug)
    except KeyboardInterrupt:
        sys.stderr.write(_interrupted_line())
        code = int(ExitCode.INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the boundary: unexpected errors, still one line
        code = _report_unexpected(exc, debug)
    if argv is None:
        sys.exit(code)
    return code


def _interrupted_line() -> str:
    """The Ctrl-C line: after an interrupted remote change, how to see whether it completed anyway
    (the service carries on with a long-running operation) and how to undo it."""
    from ..redact import redact

    host = _context._host if _context is not None else None
    target = getattr(host, "interrupted_change", None)
    if target is None:
        return "error: interrupted (fix: run the command again)\n"
    return redact(f"error: interrupted (fix: the change may still complete on the service: check it with amlws get {target.id}; "
                  f"amlws rollback {target.id} undoes it)") + "\n"


def _report(exc: AmlwsError, debug: bool) -> int:
    from ..redact import redact

    if debug:
        sys.stderr.write(redact(traceback.format_exc()))
    line = f"error: {exc.message}"
    if exc.hint:
        line += f" (fix: {exc.hint})"
    # One line, always: a multi-line message from a library is folded.
    sys.stderr.write(redact(" ".join(line.splitlines())) + "\n")
    return int(exc.exit_code)


def _report_unexpected(exc: Exception, debug: bool) -> int:
    from ..redact import redact

    # Click usage errors (unknown option/command) arrive here with standalone_mode=False.
    exit_code = getattr(exc, "exit_code", None)
    show = getattr(exc, "show", None)
    if callable(show) and isinstance(exit_code, int):
        if type(exc).__name__ == "NoArgsIsHelpError":
            show(file=sys.stderr)  # a bare group: its help, as Typer prints it
            return exit_code
        return _report_usage(exc, exit_code)
    if type(exc).__name__ == "Abort":
        sys.stderr.write("error: aborted\n")
        return int(ExitCode.INTERRUPTED)
    if debug:
        sys.stderr.write(redact(traceback.format_exc()))
    sys.stderr.write(redact(f"error: unexpected {type(exc).__name__}: {exc}") + " (fix: rerun with --debug and report it)\n")
    return int(ExitCode.FAILED)


def _report_usage(exc: Exception, exit_code: int) -> int:
    """One line for a command-line usage error (unknown command/option, bad value)."""
    from ..redact import redact

    fmt = getattr(exc, "format_message", None)
    message = (fmt() if callable(fmt) else str(exc)).strip().rstrip(".")
    cmd_ctx = getattr(exc, "ctx", None)
    command = getattr(cmd_ctx, "command_path", None) or "amlws"
    line = f"error: {message} (fix: see {command} --help)"
    sys.stderr.write(redact(" ".join(line.split())) + "\n")
    return exit_code if exit_code else int(ExitCode.USAGE)


if __name__ == "__main__":  # pragma: no cover
    main()
