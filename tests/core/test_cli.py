"""The CLI frame: version/help, usage errors, output and query, global options, config, error boundary."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from amlws import __version__, hookimpl
from amlws.cli.application import hoist_global_options
from amlws.errors import AmlwsError, AuthError, ConflictError, NotFoundError
from amlws.model import Definition, Setting
from amlws.redact import register_secret

from .conftest import AcmeBackend

pytestmark = pytest.mark.usefixtures("amlws_env")


class Backend(AcmeBackend):
    """A backend whose get_definition does what the test says."""

    def __init__(self, action=None):
        self.action = action

    @hookimpl
    def amlws_get_definition(self, target):
        if self.action is not None:
            self.action()
        return Definition("acme", {"name": target.id.split(":", 1)[1], "properties": {"title": "T", "n": 3}}, target)


@pytest.fixture
def pm(make_pm):
    return make_pm((Backend(), "acme"))


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


# --- version, help, usage errors -------------------------------------------------------------


def test_version(pm, run_cli):
    assert run_cli(["--version"], pm) == (0, f"amlws {__version__}\n", "")


def test_help_lists_the_commands(pm, run_cli):
    code, out, err = run_cli(["--help"], pm)
    assert code == 0 and err == ""
    for command in ("get", "export", "import", "patch-ilearner", "update", "plugins", "config"):
        assert f"  {command} " in out
    for option in ("--output", "--query", "--profile", "--verbose", "--debug", "--yes", "--what-if"):
        assert option in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["frob"], "error: No such command 'frob' (fix: see amlws --help)"),
        (["--frob"], "error: No such option: --frob (fix: see amlws --help)"),
        (["get", "--frob"], "error: No such option: --frob (fix: see amlws get --help)"),
        (["config", "set"], "error: Missing argument 'KEY' (fix: see amlws config set --help)"),
        (["-o", "xml", "plugins"], "error: invalid --output 'xml' (fix: use -o table, -o json, -o tsv, -o none)"),
    ],
)
def test_usage_errors_are_exit_2_and_one_line(pm, run_cli, argv, expected):
    code, out, err = run_cli(argv, pm)
    assert code == 2 and out == ""
    assert one_error_line(err) == expected


# --- output ---------------------------------------------------------------------------------------


def test_json_output_is_alone_on_stdout_and_valid(pm, run_cli):
    code, out, err = run_cli(["-v", "get", "acme:svc", "-o", "json"], pm)
    assert code == 0
    assert json.loads(out) == {"name": "svc", "properties": {"title": "T", "n": 3}}
    assert "{" not in err


def test_table_output_is_for_people(pm, run_cli):
    code, out, _ = run_cli(["get", "acme:svc"], pm)
    assert code == 0
    assert "svc" in out and "acme" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_query_is_jmespath_over_the_json_result(pm, run_cli):
    code, out, _ = run_cli(["get", "acme:svc", "-o", "json", "--query", "properties.n"], pm)
    assert (code, json.loads(out)) == (0, 3)
    code, out, _ = run_cli(["plugins", "-o", "json", "--query", "[].{n: name, b: backend}"], pm)
    assert json.loads(out) == [{"n": "acme", "b": "acme"}]


def test_invalid_query_is_a_usage_error(pm, run_cli):
    code, out, err = run_cli(["get", "acme:svc", "--query", "[[["], pm)
    assert code == 2 and out == ""
    assert one_error_line(err).startswith("error: invalid --query '[[[': ")


def test_plugins_json_lists_name_version_distribution_backend_hooks(pm, run_cli):
    code, out, _ = run_cli(["plugins", "-o", "json"], pm)
    assert code == 0
    assert json.loads(out) == [
        {
            "name": "acme",
            "version": None,
            "distribution": None,
            "backend": "acme",
            "hooks": ["amlws_backend_info", "amlws_claim_target", "amlws_get_definition"],
        }
    ]


# --- global options anywhere ----------------------------------------------------------------------


def test_hoist_global_options():
    argv = ["get", "X", "-o", "json", "--backend", "b", "--query=a.b", "--yes", "--profile", "p", "--debug"]
    assert hoist_global_options(argv) == ["-o", "json", "--query=a.b", "--yes", "--profile", "p", "--debug", "get", "X", "--backend", "b"]
    # after "--" nothing moves; a value option at the very end is left for the parser to reject
    assert hoist_global_options(["get", "--", "-o", "json"]) == ["get", "--", "-o", "json"]
    assert hoist_global_options(["get", "-o"]) == ["get", "-o"]


def test_global_options_work_after_the_command(pm, run_cli):
    before = run_cli(["-o", "json", "--query", "name", "get", "acme:svc"], pm)
    after = run_cli(["get", "acme:svc", "--query", "name", "-o", "json"], pm)
    assert before == after == (0, '"svc"\n', "")


# --- exit codes and the error boundary --------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (AmlwsError("failed"), 1),
        (NotFoundError("no such service"), 3),
        (AuthError("token expired"), 4),
        (ConflictError("changed since export"), 5),
    ],
)
def test_errors_map_to_documented_exit_codes(make_pm, run_cli, exc, code):
    def fail():
        raise exc

    got, out, err = run_cli(["get", "acme:svc"], make_pm((Backend(fail), "acme")))
    assert got == code and out == ""
    assert one_error_line(err) == f"error: {exc.message}"


def test_error_hint_is_on_the_same_line(make_pm, run_cli):
    def fail():
        raise NotFoundError("no service svc", hint="check the name")

    _, _, err = run_cli(["get", "acme:svc"], make_pm((Backend(fail), "acme")))
    assert err == "error: no service svc (fix: check the name)\n"


def test_ctrl_c_exits_130(make_pm, run_cli):
    def interrupt():
        raise KeyboardInterrupt

    code, out, err = run_cli(["get", "acme:svc"], make_pm((Backend(interrupt), "acme")))
    assert (code, out) == (130, "")
    assert err == "error: interrupted (fix: run the command again)\n"  # a read: nothing to check or undo


def test_unexpected_exception_is_one_line_exit_1_without_traceback(make_pm, run_cli):
    def crash():
        raise ZeroDivisionError("division by zero")

    code, out, err = run_cli(["get", "acme:svc"], make_pm((Backend(crash), "acme")))
    assert code == 1 and out == ""
    assert "Traceback" not in err
    assert one_error_line(err).startswith("error: backend 'acme' failed in amlws_get_definition: ZeroDivisionError")


def test_debug_shows_a_redacted_traceback_without_locals(make_pm, run_cli):
    secret = "S3cr3t-api-key-0123456789"
    register_secret(secret)

    def fail():
        local_value = "LOCAL" + "MARKER"  # noqa: F841 - must not be printed (no locals)
        raise AuthError(f"key {secret} was refused; url https://h/x?sv=1&sig=abcdef")

    code, out, err = run_cli(["--debug", "get", "acme:svc"], make_pm((Backend(fail), "acme")))
    assert code == 4 and out == ""
    assert "Traceback (most recent call last)" in err
    assert "in fail" in err
    assert secret not in err and "sig=abcdef" not in err and "sig=***" in err
    assert "LOCALMARKER" not in err
    assert err.rstrip().splitlines()[-1] == "error: key *** was refused; url https://h/x?sv=1&sig=***"


def test_no_traceback_without_debug(make_pm, run_cli):
    def fail():
        raise AuthError("nope")

    _, _, err = run_cli(["get", "acme:svc"], make_pm((Backend(fail), "acme")))
    assert "Traceback" not in err


# --- config ------------------------------------------------------------------------------------------


def test_config_path_honours_amlws_config_dir(pm, run_cli, amlws_env):
    assert run_cli(["config", "path"], pm) == (0, str(amlws_env / "config" / "config.toml") + "\n", "")


class WithSettings(Backend):
    """acme declaring settings: ``location`` and the secret ``workspace_token`` (core knows neither)."""

    @hookimpl
    def amlws_settings(self):
        return {"location": "acme region", "workspace_token": Setting("acme token", secret=True)}


@pytest.fixture
def settings_pm(make_pm):
    return make_pm((WithSettings(), "acme"))


def test_config_set_show_unset(settings_pm, run_cli, amlws_env, monkeypatch):
    pm = settings_pm
    path = amlws_env / "config" / "config.toml"
    assert run_cli(["config", "set", "subscription", "sub-1"], pm)[0] == 0
    assert run_cli(["config", "set", "workspace-token", "tok-very-secret-1"], pm)[0] == 0
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == '[profiles.default]\nsubscription = "sub-1"\nworkspace_token = "tok-very-secret-1"\n'

    monkeypatch.setenv("AMLWS_LOCATION", "West US")
    code, out, err = run_cli(["config", "show", "-o", "json"], pm)
    assert code == 0 and "tok-very-secret-1" not in out + err
    shown = json.loads(out)
    assert shown["profile"] == "default" and shown["path"] == str(path)
    assert shown["settings"] == {
        "location": {"value": "West US", "source": "env:AMLWS_LOCATION"},
        "subscription": {"value": "sub-1", "source": "profile:default"},
        "workspace_token": {"value": "***", "source": "profile:default"},
    }
    code, out, _ = run_cli(["config", "show"], pm)
    assert "tok-very-secret-1" not in out and "sub-1" in out

    assert run_cli(["config", "unset", "subscription"], pm)[0] == 0
    assert path.read_text() == '[profiles.default]\nworkspace_token = "tok-very-secret-1"\n'


def test_profiles_are_created_by_config_set_and_missing_ones_are_errors(pm, run_cli, amlws_env):
    code, out, err = run_cli(["--profile", "prod", "get", "acme:svc"], pm)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert line.startswith("error: profile 'prod' not found in ")
    assert "(fix: create it with: amlws --profile prod config set KEY VALUE)" in line

    code, out, err = run_cli(["--profile", "prod", "config", "show"], pm)
    assert code == 2 and "profile 'prod' not found" in err

    assert run_cli(["--profile", "prod", "config", "set", "subscription", "sub-prod"], pm)[0] == 0
    code, out, _ = run_cli(["--profile", "prod", "config", "show", "-o", "json", "--query", "settings.subscription.value"], pm)
    assert (code, json.loads(out)) == (0, "sub-prod")


def test_malformed_config_is_exit_2_and_nothing_is_written(pm, run_cli, amlws_env):
    path = amlws_env / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("[profiles.default\nsubscription = 1\n")
    before = path.read_bytes()
    for argv in (["config", "set", "subscription", "x"], ["get", "acme:svc"], ["config", "show"]):
        code, out, err = run_cli(argv, pm)
        assert code == 2 and out == ""
        line = one_error_line(err)
        assert line.startswith(f"error: malformed config file {path}: ")
        assert f"(fix: fix or delete {path}" in line
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


def test_secret_value_is_never_required_on_the_command_line(pm, run_cli):
    code, out, err = run_cli(["config", "set", "api_key"], pm)
    assert code == 2
    assert one_error_line(err) == "error: no value given for api_key (fix: amlws config set api_key VALUE)"


# --- what-if and confirmation ---------------------------------------------------------------------


def test_update_needs_yes_when_stdin_is_not_a_terminal(make_pm, run_cli, tmp_path):
    sent = []

    class Updating(Backend):
        @hookimpl
        def amlws_import(self, document):
            return Definition("acme", document)

        @hookimpl
        def amlws_update(self, target, definition):
            sent.append(definition.document)

    f = tmp_path / "d.json"
    f.write_text('{"properties": {}}')
    code, out, err = run_cli(["update", "acme:svc", "--service-updates", str(f)], make_pm((Updating(), "acme")))
    assert code == 2 and sent == []
    assert one_error_line(err) == "error: Update acme:svc: confirmation needed but stdin is not a terminal (fix: pass --yes to confirm)"


# --- start-up cost -------------------------------------------------------------------------------------


def test_cli_and_builtin_plugins_import_no_azure_sdk_and_no_requests(tmp_path):
    code = (
        "import sys\n"
        "import amlws.cli.application, amlws.plugins.arm, amlws.plugins.classic\n"
        "from amlws.cli.application import main\n"
        "rc = main(['--help'])\n"
        "heavy = sorted(m for m in sys.modules if m == 'azure' or m.startswith(('azure.', 'requests', 'urllib3')))\n"
        "print('HEAVY', heavy, rc, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLWS_")}
    env["AMLWS_CONFIG_DIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: amlws" in proc.stdout and "get" in proc.stdout
    assert "HEAVY [] 0" in proc.stderr, proc.stderr


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("amlws")
    if not exe.exists():
        pytest.skip("the amlws console script is not installed next to this python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLWS_")}
    env["AMLWS_CONFIG_DIR"] = str(tmp_path)
    proc = subprocess.run([str(exe), "nosuchcommand"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines()[-1] == "error: No such command 'nosuchcommand' (fix: see amlws --help)"


def test_shell_completion_completes_commands(tmp_path):
    exe = Path(sys.executable).with_name("amlws")
    if not exe.exists():
        pytest.skip("the amlws console script is not installed next to this python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMLWS_")}
    env.update(AMLWS_CONFIG_DIR=str(tmp_path), _AMLWS_COMPLETE="complete_bash", COMP_WORDS="amlws pl", COMP_CWORD="1")
    proc = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)
    assert (proc.returncode, proc.stdout.split()) == (0, ["plugins"])


def test_a_plugin_failing_to_register_commands_is_a_warning(make_pm, run_cli, monkeypatch):
    from amlws.cli import application as cli

    class BadCommands:
        @hookimpl
        def amlws_register_commands(self, app):
            raise RuntimeError("typer API changed")

    monkeypatch.setattr(cli, "_registered", False)
    monkeypatch.setattr(cli, "BUILTIN_COMMAND_MODULES", [])
    code, out, err = run_cli(["--version"], make_pm((Backend(), "acme"), (BadCommands(), "badcmds")))
    assert (code, out) == (0, f"amlws {__version__}\n")
    assert err == (
        "WARNING: plugin 'badcmds' failed in amlws_register_commands: RuntimeError: typer API changed; "
        "its commands are unavailable (fix: rerun with --debug for the traceback, or set AMLWS_DISABLE_PLUGINS=badcmds)\n"
    )
