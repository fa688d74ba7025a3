"""Every ``--help``: examples, the global options, usage lines with names, whole summaries (issue 12)."""

from __future__ import annotations

import re
from typing import Any

import pytest

TYPE_PLACEHOLDER = re.compile(r"<(str|int|float|path|file|dir|bool|list\[[a-z]+\])[^>]*>")
GLOBAL_OPTIONS = ("-o, --output FORMAT", "--query JMESPATH", "--what-if", "-y, --yes", "--profile NAME", "--timeout SECONDS")


@pytest.fixture
def run_help(capsys, monkeypatch):
    """``run_help(*path) -> (code, stdout)``: ``amlws PATH --help`` in-process with the arm and classic plugins."""
    import amlws.plugins.arm
    import amlws.plugins.classic
    from amlws import cli
    from amlws.host import get_plugin_manager, register_plugin

    monkeypatch.setenv("COLUMNS", "80")
    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, amlws.plugins.arm, "arm")
    register_plugin(pm, amlws.plugins.classic, "classic")
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
            if not re.search(r"^\s+amlws ", examples, flags=re.MULTILINE):
                problems.append(f"{name}: no amlws command line in its examples")
            runs = [re.sub(r" --profile \S+", "", line).split()[:len(path) + 1] for line in examples.splitlines()]
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
    assert "amlws update -g MyRG -n MyService --service-updates svc.json" in examples
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
