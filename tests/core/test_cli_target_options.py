"""``with_target_options``: the TARGET argument and target options declared once, spliced into each command."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from amlws import hookimpl
from amlws.cli import targets
from amlws.cli.targets import TARGET_OPTIONS, TargetInput, use_target_options, with_target_options
from amlws.declarations import target_options
from amlws.model import BackendInfo, Definition, TargetOption

from .conftest import AcmeBackend

pytestmark = pytest.mark.usefixtures("amlws_env", "builtin_declarations")

EIGHT = ["backend", "resource_group", "name", "subscription", "workspace", "service", "endpoint", "location"]
SEVEN_UNSET = dict.fromkeys(EIGHT[1:])
NameOpt = Annotated[str | None, typer.Option("--name", "-n", help="A name.")]


@pytest.fixture
def builtin_declarations(make_pm):
    """The options the built-in backends declare, as the CLI installs them; restored afterwards."""
    import amlws.plugins.arm
    import amlws.plugins.classic

    saved = (targets._declared, targets._target_arg)
    pm = make_pm((amlws.plugins.arm, "arm"), (amlws.plugins.classic, "classic"))
    use_target_options(target_options(pm))
    try:
        yield
    finally:
        targets._declared, targets._target_arg = saved
        for command in list(targets._commands):
            command._amlws_rebuild()


def params(app: typer.Typer, *path: str) -> list[str]:
    """The click parameter names of ``app path...``, in --help order (without --help)."""
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return [p.name for p in command.params if p.name != "help"]


def toy_app(**decorator_kw: Any) -> tuple[typer.Typer, dict[str, Any]]:
    app = typer.Typer(rich_markup_mode=None)  # plain help, as amlws prints it
    seen: dict[str, Any] = {}

    @app.callback()
    def root() -> None:
        pass

    @app.command("show")
    @with_target_options(**decorator_kw)
    def show(
        target: TargetInput,
        flag: Annotated[bool, typer.Option("--flag", help="An own option.")] = False,
        *,
        last: Annotated[str | None, typer.Option("--last", help="Keyword-only: after the target options.")] = None,
    ) -> None:
        """Show what the command got."""
        seen.update(target=target, flag=flag, last=last)

    return app, seen


# --- the decorator on its own ----------------------------------------------------------------------


def test_options_go_after_own_parameters_and_before_keyword_only_ones():
    app, _ = toy_app()
    assert params(app, "show") == ["target", "flag", *EIGHT, "last"]


def test_the_command_gets_one_target_input():
    app, seen = toy_app()
    result = CliRunner().invoke(app, ["show", "x:1", "-g", "rg", "--workspace", "ws", "--last", "L", "--flag"])
    assert result.exit_code == 0, result.output
    assert seen == {
        "target": TargetInput("x:1", None, {**SEVEN_UNSET, "resource_group": "rg", "workspace": "ws"}),
        "flag": True,
        "last": "L",
    }
    assert seen["target"].given


def test_help_keeps_the_option_texts_and_the_docstring():
    app, _ = toy_app()
    out = CliRunner().invoke(app, ["show", "--help"], env={"COLUMNS": "200"}).output
    assert "Show what the command got." in out
    assert "-g, --resource-group" in out and "ARM resource group (with --name)." in out
    assert "Classic workspace region" in out and "An own option." in out


def test_a_fixed_backend_and_an_option_subset():
    app, seen = toy_app(options={"name": NameOpt}, backend="arm")
    assert params(app, "show") == ["target", "flag", "name", "last"]
    assert CliRunner().invoke(app, ["show", "-n", "svc"]).exit_code == 0
    assert seen["target"] == TargetInput(None, "arm", {"name": "svc"})


def test_backend_option_wins_over_the_fixed_backend():
    app, seen = toy_app(options={"backend": TARGET_OPTIONS["backend"]}, backend="arm")
    assert CliRunner().invoke(app, ["show", "t"]).exit_code == 0
    assert seen["target"] == TargetInput("t", "arm", {})
    assert CliRunner().invoke(app, ["show", "t", "--backend", "classic"]).exit_code == 0
    assert seen["target"] == TargetInput("t", "classic", {})


def test_target_can_be_an_option_in_place():
    app, seen = toy_app(target=Annotated[str | None, typer.Option("--target", help="As an option.")])
    assert params(app, "show")[:2] == ["target", "flag"]
    assert CliRunner().invoke(app, ["show", "--target", "t:1"]).exit_code == 0
    assert seen["target"].text == "t:1"


def test_given_ignores_backend_alone():
    assert not TargetInput(None, "arm", dict(SEVEN_UNSET)).given
    assert TargetInput(None, None, {**SEVEN_UNSET, "endpoint": "ep"}).given
    assert TargetInput("x", None, {}).given


@pytest.mark.parametrize("bad", ["no_target", "clash"])
def test_a_command_it_cannot_decorate_fails_at_definition(bad):
    def no_target(other: str | None = None) -> None: ...

    def clash(target: Any = None, name: str | None = None) -> None: ...

    with pytest.raises(TypeError, match="needs a 'target' parameter"):
        with_target_options({"no_target": no_target, "clash": clash}[bad])


# --- the real commands keep their parameters (and so their --help) ---------------------------------


@pytest.mark.parametrize(
    ("command", "own"),
    [("export", ["output_file", "force", "include_keys"]), ("update", ["service_updates", "force", "allow_http", "check_model"])],
)
def test_core_commands(command, own):
    app = typer.Typer()
    from amlws.cli import definitions

    definitions.register(app)
    assert params(app, command) == ["target", *own, *EIGHT]


def test_get_has_the_region_only_the_arm_backend_declares_for_it():
    app = typer.Typer()
    from amlws.cli import definitions

    definitions.register(app)
    assert params(app, "get") == ["target", *EIGHT[:4], "region", *EIGHT[4:]]
    assert "region" not in params(app, "export")


@pytest.mark.parametrize(
    ("command", "own"),
    [("history", ["revision", "metrics"]), ("diff", ["revision", "file"]), ("rollback", ["to", "sas_token"])],
)
def test_safety_commands(command, own):
    from amlws import commands_safety

    app = typer.Typer()
    commands_safety.register(app)
    assert params(app, command) == ["target", *own, *EIGHT]


@pytest.mark.parametrize(
    ("command", "own"),
    [("new", ["definition_file", "location", "force"]), ("remove", []), ("keys", []), ("add-region", ["region"])],
)
def test_arm_commands(command, own):
    from amlws.plugins.arm import commands

    app = typer.Typer()
    commands.register(app)
    assert params(app, command) == ["target", *own, "resource_group", "name", "subscription", "cloud"]


def test_retrain_command():
    from amlws import commands_retrain

    app = typer.Typer()
    commands_retrain.register(app)
    names = params(app, "retrain")
    assert names[:2] == ["training_service", "target"]
    assert names[-9:] == ["deploy_what_if", *EIGHT]


# --- through the real CLI and host --------------------------------------------------------------------


class Named(AcmeBackend):
    """A backend whose targets can also be named with -n; it records the options it was given."""

    def __init__(self) -> None:
        self.options: list[dict[str, Any]] = []

    @hookimpl
    def amlws_backend_info(self):
        return BackendInfo(name="acme", target_help="acme:NAME", target_options=(
            TargetOption("name", ("--name", "-n"), "Acme name."), TargetOption("workspace", ("--workspace",), "Acme workspace.")))

    @hookimpl
    def amlws_target_from_options(self, options):
        self.options.append(dict(options))
        return "acme:" + options["name"] if options.get("name") else None

    @hookimpl
    def amlws_get_definition(self, target):
        return Definition("acme", {"id": target.id}, target)


@pytest.fixture
def named(make_pm):
    backend = Named()
    return backend, make_pm((backend, "acme"))


def test_options_reach_the_host(named, run_cli):
    backend, pm = named
    code, out, err = run_cli(["get", "-n", "svc", "--workspace", "w", "--backend", "acme", "-o", "json"], pm)
    assert (code, err) == (0, "")
    assert json.loads(out) == {"id": "acme:svc"}
    assert backend.options == [{"name": "svc", "workspace": "w"}]  # the options acme declares, and only those


def test_a_missing_own_option_is_reported_before_a_missing_target(named, run_cli):
    code, out, err = run_cli(["update"], named[1])
    assert (code, out) == (2, "")
    assert err.startswith("error: --service-updates FILE is required")


def test_no_target_is_a_usage_error(named, run_cli):
    code, _, err = run_cli(["get"], named[1])
    assert code == 2 and err.startswith("error: no target given")


def test_history_without_a_target_lists_all_even_with_backend(named, run_cli):
    backend, pm = named
    code, out, err = run_cli(["history", "--backend", "acme", "-o", "json"], pm)
    assert (code, json.loads(out)) == (0, [])
    assert backend.options == []  # nothing was resolved
