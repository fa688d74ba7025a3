"""The ``amlws`` command line: a thin Typer layer over :mod:`amlws.api`.

One error boundary (:func:`main`) maps :class:`~amlws.errors.AmlwsError` to the
documented exit codes. Global options (``-o``, ``--query``, ``--profile``, ``-v``,
``--debug``, ``--yes``, ``--what-if``, ``--timeout``) may stand anywhere on the command
line, as in ``az``. Azure SDKs are imported only inside the commands that need them.
"""

import sys
import traceback
from typing import Annotated, Any

import typer

from .. import __version__
from ..errors import AmlwsError, ExitCode, UsageError
from .help import AmlwsGroup, style_commands

HELP = """Retrain Azure ML models and update the web services of every installed backend (amlws plugins lists them).

Examples:
    The retraining walkthrough: export, point at the new model, update
        amlws export TARGET --output-file svc.json
        amlws patch-ilearner svc.json --uri "https://acct.blob.core.windows.net/models/new.ilearner?sv=...&sig=..."
        amlws update TARGET --service-updates svc.json
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

#: Core command modules with a ``register(app)`` function (import-light at module level).
BUILTIN_COMMAND_MODULES: list[str] = ["amlws.cli.definitions", "amlws.cli.config", "amlws.cli.retrain", "amlws.emulator.cli", "amlws.cli.safety", "amlws.cli.fleet"]


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
    from ..declarations import secret_settings

    settings = Settings.load(
        profile,
        secret_names=secret_settings(_pm) if _pm is not None else frozenset(),
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
    from ..declarations import command_groups

    added = {g.name for g in app.registered_groups}
    for backend, group in command_groups(pm).items():
        if group not in added:  # a declaration that says more than the plugin did
            import logging

            logging.getLogger("amlws").warning("backend %r declares the command group %r but did not add it", backend, group)
    _registered = True


def prepare(pm: Any) -> None:
    """The command tree of this run: built-in and plugin commands, the installed backends' target
    options in every command with a target, help styled (examples, global options)."""
    register_commands(pm)
    from ..declarations import backend_infos, target_options
    from .targets import use_target_options

    use_target_options(target_options(pm), {i.name: i.target_help for i in backend_infos(pm)})
    style_commands(app)  # examples, global options and named usage in every --help (plugin commands too)


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
    change = sys.modules.get("amlws.safety.change")  # not imported: no change was made (start-up stays light)
    if change is not None:
        change.forget_interrupted()  # an earlier in-process run's interrupted change is not this one's
    try:
        from ..output import setup_logging

        # Logging first, so that plugin-loading warnings are formatted and redacted.
        setup_logging(verbose="-v" in args or "--verbose" in args, debug=debug)
        if pm is None:
            from ..host import get_plugin_manager

            pm = get_plugin_manager()
        _pm = pm
        prepare(pm)
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

    change = sys.modules.get("amlws.safety.change")  # not imported: no change was made
    target = change.interrupted_target() if change is not None else None
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
