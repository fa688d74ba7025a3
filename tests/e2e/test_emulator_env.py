"""``amlws emulator start`` prints every variable the walkthroughs use against the emulator (issue 12:
``AMLWS_SCORING_API_KEY`` was missing), in a form a shell can eval and in ``-o json``.

The walkthroughs are read from the docs themselves, so a doc that starts using a new variable fails
this test until the emulator prints it or the variable is listed below as not the emulator's to give.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from amlws.config import Settings

REPO = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"\b(?:AMLWS|AZURE)_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")

#: the walkthroughs a newcomer runs against the emulator: file -> the heading of the part to read (None: all of it)
WALKTHROUGHS = {
    "README.md": "## Use",
    "docs/emulator.md": None,
    "docs/retraining.md": None,
    "docs/fleet.md": None,
    "docs/powershell-migration.md": None,
    "demo/run_demo.py": None,
}

#: variables those pages use that are not the emulator's to give, and why
NOT_THE_EMULATORS = {
    "AMLWS_CREDENTIAL": "Azure AD sign-in: the emulator takes the bearer token it prints (AMLWS_ARM_TOKEN)",
    "AMLWS_CLOUD": "a sovereign cloud's sign-in and ARM host: AMLWS_ARM_ENDPOINT replaces them",
    "AZURE_CLIENT_ID": "service-principal sign-in",
    "AZURE_CLIENT_SECRET": "service-principal sign-in",
    "AZURE_CLIENT_CERTIFICATE_PATH": "service-principal sign-in",
    "AMLWS_CLASSIC_CONFIG_FILE": "an AzureMLPS config.json: the same settings the printed variables give",
    "AMLWS_POLL_INTERVAL": "a client tuning knob",
    "AMLWS_STATE_DIR": "where amlws keeps its own files",
    "AMLWS_CONFIG_DIR": "where amlws keeps its own files",
    "AMLWS_SAS_BLOB_TOKEN": "a read SAS for one model blob, made for one rollback",
    "AMLWS_LOAD_PLUGINS": "which plugins load",
    "AMLWS_DISABLE_PLUGINS": "which plugins load",
}

#: Azure's names that amlws reads after its own: the printed AMLWS_ name wins over a real one in the shell
ALIASES = {"AZURE_SUBSCRIPTION_ID": ("AMLWS_SUBSCRIPTION", "subscription"), "AZURE_TENANT_ID": ("AMLWS_TENANT", "tenant")}


def _section(text: str, heading: str | None) -> str:
    if heading is None:
        return text
    start = text.index(heading + "\n")
    level = heading.split(" ")[0]
    nxt = re.search(rf"^{level} ", text[start + len(heading):], re.MULTILINE)
    return text[start:start + len(heading) + (nxt.start() if nxt else len(text))]


def walkthrough_variables() -> dict[str, set[str]]:
    """variable -> the files that use it."""
    found: dict[str, set[str]] = {}
    for name, heading in WALKTHROUGHS.items():
        for var in VARIABLE.findall(_section((REPO / name).read_text(encoding="utf-8"), heading)):
            found.setdefault(var, set()).add(name)
    return found


def test_the_walkthroughs_are_read():
    used = walkthrough_variables()
    # the variables of the report, and one from each page, are seen: the parser reads what it should
    assert {"AMLWS_SCORING_API_KEY", "AMLWS_ARM_ENDPOINT", "AMLWS_STORAGE_CONNECTION_STRING", "AZURE_SUBSCRIPTION_ID"} <= set(used)
    assert "docs/retraining.md" in used["AMLWS_SCORING_API_KEY"] and "README.md" in used["AMLWS_CA_BUNDLE"]


def test_an_amlws_name_wins_over_the_azure_alias_it_stands_for():
    for alias, (name, key) in ALIASES.items():
        settings = Settings(env={alias: "the real one", name: "the emulator's"})
        assert settings.get(key, env_aliases=(alias,)) == "the emulator's"


def test_start_prints_every_variable_the_walkthroughs_use_and_a_shell_can_eval_it(tmp_path, azurite):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMLWS_", "AZURE_"))}
    env.update({"AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config"),
                "AMLWS_STORAGE_CONNECTION_STRING": azurite.connection_string})
    amlws = [sys.executable, "-c", "from amlws.cli.application import main; main()"]
    started = subprocess.run([*amlws, "emulator", "start", "-o", "json"], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    try:
        printed = json.loads(started.stdout)["env"]
        needed = {ALIASES.get(v, (v,))[0] for v in walkthrough_variables() if v not in NOT_THE_EMULATORS}
        missing = sorted(needed - set(printed))
        assert not missing, f"amlws emulator start does not print {missing} (used by {[walkthrough_variables()[v] for v in missing]})"
        assert printed["AMLWS_SCORING_API_KEY"] and printed["AMLWS_STORAGE_CONNECTION_STRING"] == azurite.connection_string

        # the table output is a script: comments and exports; eval sets exactly the JSON's values
        status = subprocess.run([*amlws, "emulator", "status"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert all(line.startswith(("#", "export ")) for line in status.stdout.splitlines()), status.stdout
        script = 'eval "$1"; for v in ' + " ".join(printed) + '; do printf "%s=%s\\n" "$v" "$(printenv "$v")"; done'
        shell = subprocess.run([shutil.which("sh") or "/bin/sh", "-c", script, "sh", status.stdout], env={"PATH": env["PATH"]},
                               capture_output=True, text=True, timeout=30)
        assert shell.returncode == 0, shell.stderr
        assert dict(line.split("=", 1) for line in shell.stdout.splitlines()) == printed
    finally:
        subprocess.run([*amlws, "emulator", "stop"], env=env, capture_output=True, text=True, timeout=60)
