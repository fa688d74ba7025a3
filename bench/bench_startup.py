"""1. Start-up: ``amlws --version``, ``amlws --help`` and ``amlws update --help`` against
``python -c pass`` and against a bare Typer app with the same command tree, measured now.

Targets (issue 8): --version <= 8x, --help <= 12x, update --help <= 25x ``python -c pass``;
and no Azure SDK or ``requests`` import on those paths (checked with ``python -X importtime``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from common import STATISTIC, Result, amlws_exe, clean_env, run_command, say, time_sides

TARGETS = {"--version": 8.0, "--help": 12.0, "update --help": 25.0}
HEAVY = ("azure", "requests", "urllib3", "cryptography")


def command_tree() -> tuple[int, list[int]]:
    """(top-level commands, sub-commands per group) of the real CLI, plugins included."""
    code = (
        "from amlws.cli.application import app, register_commands\n"
        "from amlws.host import get_plugin_manager\n"
        "register_commands(get_plugin_manager())\n"
        "print(len(app.registered_commands), *[len(g.typer_instance.registered_commands) for g in app.registered_groups])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=clean_env()).stdout.split()
    return int(out[0]), [int(x) for x in out[1:]]


def bare_app(path: Path, top: int, groups: list[int]) -> None:
    """A Typer app with the same number of commands and groups, three options each, nothing else."""
    lines = ["import typer", "from typing import Annotated, Optional",
             "app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)"]

    def cmd(owner: str, name: str) -> None:
        lines.extend([
            f"@{owner}.command('{name}')",
            f"def {owner}_{name.replace('-', '_')}(target: Annotated[Optional[str], typer.Argument(help='Target.')] = None,",
            "        output_file: Annotated[Optional[str], typer.Option('--output-file', '-f', help='File.')] = None,",
            "        force: Annotated[bool, typer.Option('--force', help='Force.')] = False,",
            "        backend: Annotated[Optional[str], typer.Option('--backend', help='Backend.')] = None) -> None:",
            "    '''A command.'''",
        ])

    for i in range(top):
        cmd("app", "update" if i == 0 else f"cmd{i}")
    for g, n in enumerate(groups):
        lines.append(f"g{g} = typer.Typer(help='Group {g}.', no_args_is_help=True)")
        lines.append(f"app.add_typer(g{g}, name='group{g}')")
        for j in range(n):
            cmd(f"g{g}", f"sub{j}")
    lines.append("app(prog_name='bare')")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def heavy_imports(args: list[str]) -> list[str]:
    """Top-level packages among HEAVY imported by ``amlws ARGS`` (the console script, -X importtime)."""
    r = subprocess.run([sys.executable, "-X", "importtime", amlws_exe(), *args], capture_output=True, text=True, env=clean_env())
    found = set()
    for line in r.stderr.splitlines():
        if "|" not in line:
            continue
        name = line.rsplit("|", 1)[-1].strip()
        top = name.split(".")[0]
        if top in HEAVY:
            found.add(top)
    return sorted(found)


def run(quick: bool = False) -> list[Result]:
    runs = 7 if quick else 15
    env = clean_env()
    say(f"1. start-up ({STATISTIC} of {runs} runs of each command, interleaved, after 2 warm-up rounds)")
    top, groups = command_tree()
    labels = {"--version": ["--version"], "--help": ["--help"], "update --help": ["update", "--help"]}
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_app.py"
        bare_app(bare, top, groups)
        commands = {"python -c pass": [sys.executable, "-c", "pass"],
                    "bare --help": [sys.executable, str(bare), "--help"],
                    "bare update --help": [sys.executable, str(bare), "update", "--help"],
                    **{label: [amlws_exe(), *args] for label, args in labels.items()}}
        times = time_sides({name: (lambda i, cmd=cmd: run_command(cmd, env)) for name, cmd in commands.items()},
                           repeats=runs, warmup=2)
    base, bare_help, bare_sub = (times[k].value for k in ("python -c pass", "bare --help", "bare update --help"))
    say(f"   python -c pass {base * 1000:.0f} ms; bare Typer app ({top} commands, {len(groups)} groups of {groups}): "
        f"--help {bare_help * 1000:.0f} ms, update --help {bare_sub * 1000:.0f} ms")
    results = []
    for label, args in labels.items():
        t = times[label].value
        ratio = t / base
        vs_bare = t / (bare_sub if "update" in label else bare_help)
        heavy = heavy_imports(args)
        results.append(Result("startup", f"amlws {label} / python -c pass", ratio, f"<= {TARGETS[label]:g}x",
                              ratio <= TARGETS[label], detail=f"{t * 1000:.0f} ms vs {base * 1000:.0f} ms; {vs_bare:.2f}x the bare Typer app"))
        results.append(Result("startup", f"amlws {label}: heavy imports", len(heavy), "none (azure, requests, ...)",
                              not heavy, unit="", detail=", ".join(heavy) or "none"))
    return results
