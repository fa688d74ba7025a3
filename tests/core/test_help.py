"""Every ``--help``: examples, the global options, usage lines with names, whole summaries (issue 12)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

TYPE_PLACEHOLDER = re.compile(r"<(str|int|float|path|file|dir|bool|list\[[a-z]+\])[^>]*>")
GLOBAL_OPTIONS = ("-o, --output FORMAT", "--query JMESPATH", "--what-if", "-y, --yes", "--profile NAME", "--timeout SECONDS")


@pytest.fixture
def run_help(capsys, monkeypatch):
    """``run_help(*path) -> (code, stdout)``: ``amlws PATH --help`` in-process with the arm, classic and mlv2 plugins."""
    import amlws.plugins.arm
    import amlws.plugins.classic
    import amlws.plugins.mlv2
    from amlws.cli import application as cli
    from amlws.host import get_plugin_manager, register_plugin

    monkeypatch.setenv("COLUMNS", "80")
    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, amlws.plugins.arm, "arm")
    register_plugin(pm, amlws.plugins.classic, "classic")
    register_plugin(pm, amlws.plugins.mlv2, "mlv2")
    pm.check_pending()

    def run(*path: str) -> tuple[int, str]:
        saved = (list(cli.app.registered_commands), list(cli.app.registered_groups), cli._registered)
        cli._registered = False
        capsys.readouterr()
        try:
            code = cli.main([*path, "--help"], pm=pm)
        finally:
            cli.app.registered_commands[:] = saved[0]
            cli.app.registered_groups[:] = saved[1]
            cli._registered = saved[2]
        return code, capsys.readouterr().out

    return run


def _command_paths(run_help: Any) -> list[tuple[str, ...]]:
    """Every command and group, found by reading each group's own help (as a user would)."""
    paths: list[tuple[str, ...]] = []
    todo: list[tuple[str, ...]] = [()]
    while todo:
        path = todo.pop(0)
        paths.append(path)
        code, out = run_help(*path)
        assert code == 0, (path, out)
        if "\nCommands:\n" in out:
            section = out.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
            todo.extend((*path, m.group(1)) for m in re.finditer(r"^  ([a-z][a-z-]*)  ", section, flags=re.MULTILINE))
    return paths


class Missing(Exception):
    pass


def _section(out: str, title: str) -> str:
    if f"\n{title}:\n" not in out:
        raise Missing(f"no {title} section")
    return out.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]


def test_every_help_has_examples_global_options_names_in_usage_and_whole_summaries(run_help):
    paths = _command_paths(run_help)
    assert ("update",) in paths and ("patch-ilearner",) in paths and ("classic", "endpoints", "add") in paths
    assert len(paths) > 40
    problems: list[str] = []
    for path in paths:
        name = " ".join(("amlws", *path))
        _, out = run_help(*path)
        usage = next(line for line in out.splitlines() if line.startswith("Usage:"))
        if re.search(r"[{}<>]", usage):
            problems.append(f"{name}: usage line with a placeholder: {usage}")
        if TYPE_PLACEHOLDER.search(out):
            problems.append(f"{name}: a type instead of a value name: {TYPE_PLACEHOLDER.search(out).group(0)}")
        try:
            examples = _section(out, "Examples")
            command_lines = [ln for ln in examples.splitlines() if ln.startswith("      ")]  # under a line of prose
            commands = [c for line in command_lines for c in _example_commands(line)]
            if not commands:
                problems.append(f"{name}: no amlws command line in its examples")
            runs = [re.sub(r" --profile \S+", "", " ".join(c)).split()[:len(path) + 1] for c in commands]
            if path and ["amlws", *path] not in runs:
                problems.append(f"{name}: no example runs {name}")
        except Missing as exc:
            problems.append(f"{name}: {exc}")
        if path:
            try:
                globals_ = _section(out, "Global options")
                problems.extend(f"{name}: global option {o} not listed" for o in GLOBAL_OPTIONS if o not in globals_)
            except Missing as exc:
                problems.append(f"{name}: {exc}")
        if "\nCommands:\n" in out:
            for line in _section(out, "Commands").splitlines():
                if line.rstrip().endswith(("...", "…")):
                    problems.append(f"{name}: summary cut: {line.strip()}")
    assert not problems, "\n".join(problems)


def test_update_help_reads_like_az(run_help):
    code, out = run_help("update")
    assert code == 0
    assert out.startswith("Usage: amlws update [OPTIONS] [TARGET]\n")
    assert "--service-updates, --definition-file SERVICE_UPDATES" in out
    examples = _section(out, "Examples")
    assert "amlws update TARGET --service-updates svc.json" in examples
    # core names no backend: TARGET's help quotes each installed backend's target_help, the options are theirs
    arguments = "".join(_section(out, "Arguments").split())  # long URLs wrap anywhere
    assert "arm:/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.MachineLearning/webServices/NAME" in arguments
    assert "classic:https://management.azureml.net/workspaces/WS/webservices/SVC/endpoints/NAME" in arguments
    assert "-g, --resource-group RESOURCE_GROUP" in out and "--workspace WORKSPACE" in out
    assert "-o, --output FORMAT" in _section(out, "Global options")


def test_patch_ilearner_usage_names_its_argument(run_help):
    code, out = run_help("patch-ilearner")
    assert code == 0 and out.startswith("Usage: amlws patch-ilearner [OPTIONS] DEFINITION_FILE\n")
    assert _section(out, "Arguments").startswith("  DEFINITION_FILE  Exported definition file")


def test_root_summaries_are_whole_sentences(run_help):
    code, out = run_help()
    commands = _section(out, "Commands")
    assert "Update a service with a definition, wait for it to apply,\n" in commands or \
        "Update a service with a definition, wait for it to apply, verify." in " ".join(commands.split())
    assert "Global options" not in out  # the root lists them as its own options


def _example_commands(line: str) -> list[list[str]]:
    """The ``amlws`` command lines of one example line, as the shell would split them: also
    those inside ``$(...)`` (``eval "$(amlws emulator start)"``) and around pipes and ``&&``."""
    import shlex

    inner = re.findall(r"\$\(([^()]*)\)", line)
    outer = re.sub(r"\$\([^()]*\)", "X", line)
    commands: list[list[str]] = []
    for text in [outer, *inner]:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] = []
        for token in [*lexer, ";"]:
            if token and set(token) <= set("|&;<>()"):
                while current and re.match(r"[A-Za-z_]\w*=", current[0]):
                    current = current[1:]  # VAR=value amlws ...
                if current[:1] == ["amlws"]:
                    commands.append(current)
                current = []
            else:
                current.append(token)
    return commands


@pytest.fixture
def command_tree():
    """The root click command of ``amlws`` (with the arm, classic and mlv2 plugins), styled as ``main`` styles it."""
    import typer.main

    from amlws.cli import application as cli

    saved = (list(cli.app.registered_commands), list(cli.app.registered_groups), cli._registered)
    import amlws.plugins.arm
    import amlws.plugins.classic
    import amlws.plugins.mlv2
    from amlws.host import get_plugin_manager, register_plugin

    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, amlws.plugins.arm, "arm")
    register_plugin(pm, amlws.plugins.classic, "classic")
    register_plugin(pm, amlws.plugins.mlv2, "mlv2")
    cli._registered = False
    try:
        cli.prepare(pm)  # as main() does: commands, the backends' target options, styled help
        yield typer.main.get_command(cli.app)
    finally:
        cli.app.registered_commands[:] = saved[0]
        cli.app.registered_groups[:] = saved[1]
        cli._registered = saved[2]


def _parse(root: Any, argv: list[str]) -> tuple[str, ...]:
    """Parse ``amlws ARGV`` down to its command, as the CLI does but without running anything;
    returns the command path. Unknown options, a missing or extra argument, a bad choice: raises."""
    from amlws.cli.application import hoist_global_options

    args = hoist_global_options(argv)
    cmd, name, path, parent = root, "amlws", (), None
    while True:
        ctx = cmd.make_context(name, list(args), parent=parent, resilient_parsing=False)
        if not hasattr(cmd, "commands"):
            return path
        # A group stops at its command's name: what it left in ctx.args follows that name.
        sub_name = args[len(args) - len(ctx.args) - 1]
        sub = cmd.get_command(ctx, sub_name)
        assert sub is not None, f"no command {sub_name!r} under {' '.join(('amlws', *path))}"
        cmd, name, path, parent, args = sub, sub_name, (*path, sub_name), ctx, list(ctx.args)


def _all_commands(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, cmd)]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        out.extend(_all_commands(sub, (*path, name)))
    return out


#: Commands that change a service: amlws refuses them on a classic default endpoint (exit 2).
_CHANGES_A_SERVICE = {("update",), ("retrain",), ("rollback",), ("remove",), ("add-region",), ("new",)}


def _shape_problems(ran: tuple[str, ...], argv: list[str]) -> list[str]:
    """What a parse cannot see but a newcomer copying the example would hit: ids of the wrong shape."""
    problems = []
    if ran in _CHANGES_A_SERVICE and any(a.rstrip("/").endswith("/endpoints/default") for a in argv):
        problems.append("changes the default endpoint, which amlws refuses; name another endpoint")
    if ran == ("fleet", "status"):
        from amlws.fleet import default_state_path

        named = {default_state_path("models.csv").name, default_state_path("models.csv", (1, 2)).name,
                 default_state_path("models.csv", (2, 2)).name, "models.csv"}
        problems.extend(f"{a} is not a state file fleet run writes" for a in argv[3:] if not a.startswith("-")
                        and a not in named and argv[argv.index(a) - 1] not in ("-o", "--query"))
    return problems


def test_example_command_lines_split_like_a_shell():
    assert _example_commands('eval "$(amlws emulator start)"') == [["amlws", "emulator", "start"]]
    assert _example_commands("cat \"$(amlws config path)\" | head") == [["amlws", "config", "path"]]
    assert _example_commands("amlws get -n 'My Service' -o json && amlws list") == [
        ["amlws", "get", "-n", "My Service", "-o", "json"], ["amlws", "list"]]
    assert _example_commands("Start it, then point amlws at it") == []


def test_every_example_parses_with_the_real_options_and_arguments(command_tree):
    """Each ``amlws`` line of every Examples block is parsed by the CLI's own parser (nothing
    runs): an unknown or misspelt option, a missing or extra argument, a bad value fails here."""
    checked = 0
    problems: list[str] = []
    for path, cmd in _all_commands(command_tree):
        for line in getattr(cmd, "examples", []):
            if not line.startswith(" "):
                continue  # a line of prose; the command lines are indented under it
            if not _example_commands(line):
                problems.append(f"amlws {' '.join(path)}: {line.strip()}: no amlws command in an example line")
            for argv in _example_commands(line):
                try:
                    ran = _parse(command_tree, argv[1:])
                    checked += 1
                    problems.extend(f"amlws {' '.join(path)}: {line.strip()}: {p}" for p in _shape_problems(ran, argv))
                except Exception as exc:  # noqa: BLE001 - collect every bad example, then fail once
                    fmt = getattr(exc, "format_message", None)
                    message = fmt() if callable(fmt) else str(exc)
                    problems.append(f"amlws {' '.join(path)}: {line.strip()}: {type(exc).__name__}: {message}")
    assert not problems, "\n".join(problems)
    assert checked > 60


def test_the_example_parser_refuses_what_the_cli_refuses(command_tree):
    """The check above can fail: an unknown option, a missing argument, an extra one are errors."""
    assert _parse(command_tree, ["update", "-g", "RG", "-n", "S", "--service-updates", "svc.json"]) == ("update",)
    assert _parse(command_tree, ["get", "-n", "S", "-o", "json"]) == ("get",)
    for bad in (["update", "--no-such-option", "x"], ["patch-ilearner"], ["config", "unset", "a", "b"],
                ["fleet", "nosuch"]):
        with pytest.raises(Exception) as info:
            _parse(command_tree, bad)
        assert type(info.value).__name__ in ("NoSuchOption", "MissingParameter", "UsageError", "AssertionError"), bad


REPO = Path(__file__).resolve().parents[2]
#: The pages a newcomer copies commands from.
WALKTHROUGHS = ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]


def _doc_command_lines(text: str) -> list[str]:
    """The shell lines of a page's ``sh`` code blocks: continuations joined, prompts and
    ``<placeholders>`` (``<ws>``, ``<training service id>``) made plain words."""
    lines: list[str] = []
    for block in re.findall(r"^```(?:sh|bash|shell|console)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"^\$ ", "", line.strip())
            line = re.sub(r"<[a-z][^<>]*>", "X", line)
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def test_every_amlws_line_of_the_docs_parses(command_tree):
    """The walkthroughs (README, docs/*.md) work when copied: each ``amlws`` line of their shell
    blocks parses with the CLI's own parser (real options, the right arguments), and one that
    changes a service never names a classic default endpoint."""
    checked = 0
    problems: list[str] = []
    for page in WALKTHROUGHS:
        for line in _doc_command_lines((REPO / page).read_text(encoding="utf-8")):
            try:
                commands = _example_commands(line)
            except ValueError as exc:
                problems.append(f"{page}: {line}: {exc}")
                continue
            for argv in commands:
                try:
                    ran = _parse(command_tree, argv[1:])
                    checked += 1
                    problems.extend(f"{page}: {line}: {p}" for p in _shape_problems(ran, argv))
                except Exception as exc:  # noqa: BLE001 - collect every bad line, then fail once
                    if type(exc).__name__ == "Exit" and getattr(exc, "exit_code", None) == 0:
                        checked += 1  # amlws ... --help
                        continue
                    fmt = getattr(exc, "format_message", None)
                    message = fmt() if callable(fmt) else str(exc)
                    problems.append(f"{page}: {line}: {type(exc).__name__}: {message}")
    assert not problems, "\n".join(problems)
    assert checked > 60
