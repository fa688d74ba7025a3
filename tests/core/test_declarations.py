"""Backends declare what core used to hard-code: target options, settings and secrets, summaries,
command groups; and ``core/`` (outside the emulator) names no backend."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from amlws import hookimpl
from amlws.declarations import merge_target_options, target_options
from amlws.errors import PluginError, UsageError
from amlws.model import BackendInfo, Definition, Setting, Target, TargetOption

from .conftest import REPO, AcmeBackend

pytestmark = pytest.mark.usefixtures("amlws_env")


# --- core names no backend ----------------------------------------------------------------------------

#: Words that name a backend: lowercase ``arm`` (``ARM``, Azure Resource Manager, is every Azure
#: backend's, and so is ``fleet run --arm-budget``, the share of its throttling budget), ``classic``
#: in any case, ``mlv2``, and imports of a backend's modules.
BACKEND_NAMES = [re.compile(r"\barm\b(?!-budget)"), re.compile(r"\bclassic\b", re.IGNORECASE), re.compile(r"\bmlv2\b", re.IGNORECASE),
                 re.compile(r"amlws\.plugins\.")]

#: Lines another engineer's pending change removes (none left: the change path's rollback hints
#: now point at the target's backend's own commands). The test fails when listed lines are gone.
PENDING: dict[str, int] = {}


def test_core_outside_the_emulator_names_no_backend():
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "core").rglob("*")):
        rel = path.relative_to(REPO).as_posix()
        if not path.is_file() or rel.startswith("core/emulator/") or path.suffix not in (".py", ".md", ".txt", ".toml", ".cfg"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(p.search(line) for p in BACKEND_NAMES):
                found.setdefault(rel, []).append(f"{rel}:{number}: {line.strip()}")
    pending = {rel: len(lines) for rel, lines in found.items() if rel in PENDING}
    assert pending == PENDING, "PENDING is out of date: remove the entries whose lines are gone"
    rest = [line for rel, lines in found.items() if rel not in PENDING for line in lines]
    assert rest == [], "core names a backend:\n" + "\n".join(rest)


# --- a toy backend with every declaration --------------------------------------------------------------


class Declaring(AcmeBackend):
    """acme with a shelf option (every command), a depth option (get only), settings with a secret
    and a summary."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    @hookimpl
    def amlws_backend_info(self):
        return BackendInfo(name="acme", target_help="acme:NAME", target_options=(
            TargetOption("shelf", ("--shelf", "-s"), "Acme shelf holding the service."),
            TargetOption("depth", ("--depth",), "Acme: how deep get reads.", type=int, commands=("get",)),
        ))

    @hookimpl
    def amlws_target_from_options(self, options):
        return f"acme:{options['shelf']}" if options.get("shelf") else None

    @hookimpl
    def amlws_get_definition(self, target, settings):
        self.seen.append(dict(settings.invocation.options))
        return Definition("acme", {"name": target.id[5:], "title": "Shelved", "noise": "not in the summary",
                                   "model": "https://acct.blob.core.windows.net/m/x.ilearner?sv=1&sig=SECRETSIG"}, target)

    @hookimpl
    def amlws_settings(self):
        return {"acme_color": "the acme color", "acme_token": Setting("acme access token", secret=True)}

    @hookimpl
    def amlws_summarize(self, definition):
        return {"name": definition.document["name"], "title": definition.document["title"]}

    @hookimpl
    def amlws_model_reference(self, definition):
        return [{"name": "model", "selector": "model", "uri": definition.document["model"]}]


@pytest.fixture
def declaring(make_pm):
    backend = Declaring()
    return backend, make_pm((backend, "acme"))


def test_declared_options_are_in_help_scoped_ones_only_in_their_command(declaring, run_cli):
    _, pm = declaring
    code, out, _ = run_cli(["get", "--help"], pm)
    text = " ".join(out.split())
    assert code == 0 and "-s, --shelf SHELF Acme shelf holding the service." in text
    assert "--depth DEPTH Acme: how deep get reads." in text
    assert "The target, as a backend writes it (acme: acme:NAME)" in text
    code, out, _ = run_cli(["export", "--help"], pm)
    assert "--shelf" in out and "--depth" not in out
    assert "--resource-group" not in out and "--workspace" not in out  # no backend declares them here


def test_declared_options_name_the_target_and_command_options_reach_the_invocation(declaring, run_cli):
    backend, pm = declaring
    code, out, err = run_cli(["get", "-s", "top", "--depth", "3", "-o", "json"], pm)
    assert (code, err) == (0, "")
    assert json.loads(out)["name"] == "top"
    assert backend.seen == [{"depth": 3}]  # typed as declared, not part of the target
    code, _, err = run_cli(["get", "--depth", "3"], pm)
    assert code == 2 and err.startswith("error: no target given (fix: pass a target (acme: acme:NAME)")


def test_config_shows_declared_settings_and_masks_their_secrets(declaring, run_cli, monkeypatch):
    _, pm = declaring
    monkeypatch.setenv("AMLWS_ACME_COLOR", "teal")
    monkeypatch.setenv("AMLWS_ACME_TOKEN", "tok-acme-very-secret")
    code, out, err = run_cli(["config", "show", "-o", "json"], pm)
    assert code == 0 and "tok-acme-very-secret" not in out + err
    settings = json.loads(out)["settings"]
    assert settings["acme_color"] == {"value": "teal", "source": "env:AMLWS_ACME_COLOR"}
    assert settings["acme_token"] == {"value": "***", "source": "env:AMLWS_ACME_TOKEN"}
    code, out, err = run_cli(["config", "set", "acme_color", "red", "-o", "json"], pm)
    assert code == 0, err
    code, _, err = run_cli(["config", "set", "acme_token"], pm)  # a secret without a value: prompted, but not on a pipe
    assert code == 2 and "no value given for acme_token" in err


def test_config_set_prompts_hidden_for_a_declared_secret(declaring, run_cli, monkeypatch):
    import getpass

    from amlws.cli import application

    _, pm = declaring
    prompts: list[str] = []
    monkeypatch.setattr(application, "_stdin_is_tty", lambda: True)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: prompts.append(prompt) or "typed-secret")
    code, out, err = run_cli(["config", "set", "acme_token", "-o", "json"], pm)
    assert code == 0, err
    assert prompts == ["acme_token: "] and "typed-secret" not in out + err


def test_get_table_shows_the_backends_summary_and_its_models_masked(declaring, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    _, pm = declaring
    code, out, err = run_cli(["get", "acme:top", "-o", "table"], pm)
    assert code == 0, err
    assert "Shelved" in out and "acme:top" in out
    assert "not in the summary" not in out  # the backend chose the fields
    assert "x.ilearner" in out and "SECRETSIG" not in out


def test_without_a_summary_the_top_level_scalars_are_shown(make_pm, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")

    class Plain(AcmeBackend):
        @hookimpl
        def amlws_get_definition(self, target):
            return Definition("acme", {"title": "Plain", "PrimaryKey": "k-secret-1", "nested": {"x": 1}}, target)

    code, out, err = run_cli(["get", "acme:p"], make_pm((Plain(), "acme")))
    assert code == 0, err
    assert "Plain" in out and "k-secret-1" not in out and "nested" not in out


# --- two backends, one option -----------------------------------------------------------------------------


def opt(name: str, *flags: str, help: str = "", type: type = str) -> TargetOption:
    return TargetOption(name, flags, help, type)


def test_one_option_from_two_backends_is_one_cli_option():
    merged = merge_target_options([
        ("aml", opt("workspace", "--workspace", "-w", help="AML workspace name.")),
        ("studio", opt("workspace", "--workspace", help="Studio workspace ID.")),
        ("aml", opt("subscription", "--subscription", help="Subscription.")),
        ("studio", opt("subscription", "--subscription", help="Subscription.")),
    ])
    assert list(merged) == ["workspace", "subscription"]
    assert merged["workspace"].option.flags == ("--workspace", "-w")
    assert merged["workspace"].backends == ("aml", "studio")
    assert merged["workspace"].option.help == "aml: AML workspace name. studio: Studio workspace ID."
    assert merged["subscription"].option.help == "Subscription."


@pytest.mark.parametrize(("second", "message"), [
    (opt("workspace", "--workspace", "-k"), "backends 'aml' and 'studio' give the option --workspace different short flags"),
    (opt("workspace", "--workspace", type=int), "backends 'aml' and 'studio' declare the option 'workspace' differently"),
    (opt("space", "--space", "-w"), "backends 'aml' and 'studio' both declare -w but for different options"),
])
def test_conflicting_declarations_are_one_error_naming_both(second, message):
    with pytest.raises(PluginError) as exc:
        merge_target_options([("aml", opt("workspace", "--workspace", "-w")), ("studio", second)])
    assert exc.value.message.startswith(message)


def _backend(name: str, *options: TargetOption, build: Any = None) -> Any:
    class B:
        @hookimpl
        def amlws_backend_info(self):
            return BackendInfo(name=name, target_help=f"{name}:NAME", target_options=options)

        @hookimpl
        def amlws_claim_target(self, target):
            return Target(name, target) if target.startswith(f"{name}:") else None

        @hookimpl
        def amlws_target_from_options(self, options):
            return build(options) if build else None

        @hookimpl
        def amlws_get_definition(self, target):
            return Definition(name, {"id": target.id}, target)

    return B()


def test_two_backends_share_an_option_each_interprets_it(make_pm, run_cli):
    pm = make_pm((_backend("aml", opt("workspace", "--workspace", "-w", help="AML workspace name."),
                           build=lambda o: f"aml:{o['workspace']}" if o.get("workspace", "").startswith("aml-") else None), "aml"),
                 (_backend("studio", opt("workspace", "--workspace", help="Studio workspace ID."),
                           build=lambda o: f"studio:{o['workspace']}" if o.get("workspace", "").isdigit() else None), "studio"))
    assert list(target_options(pm)) == ["workspace"]
    code, out, _ = run_cli(["get", "--help"], pm)
    assert out.count("--workspace") == 1 and "-w, --workspace" in out
    assert json.loads(run_cli(["get", "-w", "aml-1", "-o", "json"], pm)[1]) == {"id": "aml:aml-1"}
    assert json.loads(run_cli(["get", "--workspace", "42", "-o", "json"], pm)[1]) == {"id": "studio:42"}


def test_a_conflict_stops_the_cli_with_one_line_naming_both(make_pm, run_cli):
    pm = make_pm((_backend("aml", opt("workspace", "--workspace", "-w")), "aml"),
                 (_backend("studio", opt("workspace", "--workspace", "-k")), "studio"))
    code, out, err = run_cli(["get", "aml:x"], pm)
    assert code != 0 and out == ""
    assert err.startswith("error: backends 'aml' and 'studio' give the option --workspace different short flags")
    assert len(err.splitlines()) == 1


def test_one_backends_option_error_does_not_stop_another(make_pm, run_cli):
    def picky(options):
        raise UsageError("picky needs --shelf and --row", hint="pass both")

    both = [opt("shelf", "--shelf")]
    pm = make_pm((_backend("picky", *both, build=picky), "picky"),
                 (_backend("easy", *both, build=lambda o: f"easy:{o['shelf']}" if o.get("shelf") else None), "easy"))
    code, out, err = run_cli(["get", "--shelf", "s1", "-o", "json"], pm)
    assert (code, err) == (0, ""), err
    assert json.loads(out) == {"id": "easy:s1"}
    only_picky = make_pm((_backend("picky", *both, build=picky), "picky"))
    code, _, err = run_cli(["get", "--shelf", "s1"], only_picky)
    assert code == 2 and err == "error: picky needs --shelf and --row (fix: pass both)\n"  # no one else: its error stands


def test_settings_and_command_groups_are_collected_from_plugins(make_pm):
    from amlws.declarations import command_groups, declared_settings, secret_settings

    class Grouped(AcmeBackend):
        @hookimpl
        def amlws_backend_info(self):
            return BackendInfo(name="acme", command_group="acme")

    pm = make_pm((Declaring(), "acme"))
    assert declared_settings(pm)["acme_color"] == Setting("the acme color")
    assert secret_settings(pm) == frozenset({"acme_token"})
    assert command_groups(pm) == {}
    assert command_groups(make_pm((Grouped(), "acme"))) == {"acme": "acme"}


def test_builtin_backends_declare_their_groups_options_and_secrets(make_pm):
    import amlws.plugins.arm
    import amlws.plugins.classic
    from amlws.config import KNOWN_KEYS
    from amlws.declarations import command_groups, secret_settings

    pm = make_pm((amlws.plugins.arm, "arm"), (amlws.plugins.classic, "classic"))
    assert command_groups(pm) == {"arm": "arm", "classic": "classic"}
    assert list(target_options(pm)) == ["resource_group", "name", "subscription", "region",
                                        "workspace", "service", "endpoint", "location"]
    assert secret_settings(pm) == frozenset({"workspace_token"})
    assert not {"workspace", "workspace_token", "location", "classic_endpoint", "resource_group"} & set(KNOWN_KEYS)
