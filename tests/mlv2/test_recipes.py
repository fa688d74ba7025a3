"""The scheduled-retraining recipes (docs/recipes/*.yml) are valid YAML and pass ``amlws`` only real
options: every ``amlws`` line of their scripts is parsed by the CLI's own parser (nothing runs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..core.test_help import _example_commands, _parse, command_tree  # noqa: F401 - the fixture

RECIPES = Path(__file__).resolve().parents[2] / "docs" / "recipes"
FILES = ["retrain-github-actions.yml", "retrain-azure-pipelines.yml"]
SCRIPT_KEYS = ("run", "script", "inlineScript", "bash")


def scripts(node: Any) -> list[str]:
    """Every shell script of a workflow (GitHub ``run``) or pipeline (``script``, ``bash``, AzureCLI ``inlineScript``)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SCRIPT_KEYS and isinstance(value, str):
                found.append(value)
            else:
                found.extend(scripts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(scripts(item))
    return found


def amlws_lines(path: Path) -> list[list[str]]:
    commands: list[list[str]] = []
    for script in scripts(yaml.safe_load(path.read_text(encoding="utf-8"))):
        for line in re.sub(r"\\\n\s*", " ", script).splitlines():
            commands.extend(_example_commands(line.strip()))
    return commands


@pytest.fixture
def tree(command_tree: Any) -> Any:  # noqa: F811
    """``command_tree`` with the three backends' target options in every command (as ``main`` sets them
    before it parses), restored afterwards."""
    import amlws.plugins.arm
    import amlws.plugins.classic
    import amlws.plugins.mlv2
    from amlws.cli import targets
    from amlws.declarations import backend_infos, target_options
    from amlws.host import get_plugin_manager, register_plugin

    pm = get_plugin_manager(load_entrypoints=False)
    for plugin, name in ((amlws.plugins.arm, "arm"), (amlws.plugins.classic, "classic"), (amlws.plugins.mlv2, "mlv2")):
        register_plugin(pm, plugin, name)
    saved = (targets._declared, targets._target_arg)
    targets.use_target_options(target_options(pm), {i.name: i.target_help for i in backend_infos(pm)})
    try:
        import typer.main

        from amlws.cli import application as cli

        yield typer.main.get_command(cli.app)  # built again: the options are read from the signatures now
    finally:
        targets._declared, targets._target_arg = saved
        for command in list(targets._commands):
            command._amlws_rebuild()


@pytest.mark.parametrize("name", FILES)
def test_recipe_runs_amlws_retrain_with_real_options(name: str, tree: Any) -> None:
    commands = amlws_lines(RECIPES / name)
    ran = [_parse(tree, argv[1:]) for argv in commands]  # an unknown option or a bad value raises
    assert ("retrain",) in ran and ("history",) in ran
    retrain = [argv for argv in commands if argv[1] == "retrain"][-1]  # the one that deploys
    for option in ("--from-job", "--input", "--gate", "--yes", "--timeout"):
        assert option in retrain, (name, option)


def test_the_check_fails_on_an_option_retrain_does_not_have(tree: Any) -> None:
    with pytest.raises(Exception) as info:
        _parse(tree, ["retrain", "-g", "RG", "-w", "WS", "-e", "EP", "--from-job", "j", "--gates", "r2>=0.8"])
    assert type(info.value).__name__ == "NoSuchOption" and "--gates" in str(info.value)
    assert _parse(tree, ["retrain", "-g", "RG", "-w", "WS", "-e", "EP", "--from-job", "j", "--gate", "r2>=0.8"]) == ("retrain",)

