"""Fixtures for the foundation tests (plugin host, CLI frame, config, HTTP policy).

Every test here sees no installed plugin unless it asks for entry points on purpose:
``make_pm`` builds ``get_plugin_manager(load_entrypoints=False)`` and registers exactly
the plugins under test (STYLE.md principle 10).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from amlws import hookimpl
from amlws.host import check_plugins, get_plugin_manager, register_plugin
from amlws.model import BackendInfo, Target

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "examples" / "amlws-file-backend"
SHARED = REPO / "tests" / "data"
GET_WEB_SERVICE = SHARED / "specs" / "arm" / "stable-2017-01-01" / "examples" / "getWebService.json"


@pytest.fixture
def amlws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment: no AMLWS_* or CA variables from the machine, config in tmp."""
    for name in list(os.environ):
        if name.startswith("AMLWS_") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AMLWS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


@pytest.fixture
def make_pm() -> Iterator[Callable[..., Any]]:
    """``make_pm(plugin, name=...)`` or ``make_pm((plugin, name), ...)``: a checked plugin manager."""
    made: list[tuple[Any, list[Any]]] = []

    def factory(*plugins: Any) -> Any:
        pm = get_plugin_manager(load_entrypoints=False)
        registered = []
        for item in plugins:
            plugin, name = item if isinstance(item, tuple) else (item, getattr(item, "__name__", None) or type(item).__name__)
            register_plugin(pm, plugin, name)
            registered.append(plugin)
        check_plugins(pm)
        made.append((pm, registered))
        return pm

    yield factory
    for pm, registered in made:
        for plugin in registered:
            if pm.is_registered(plugin):
                pm.unregister(plugin)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """``run_cli(argv, pm)`` -> (exit code, stdout, stderr), through the real error boundary."""
    from amlws.cli import application as cli

    def run(argv: list[str], pm: Any) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(list(argv), pm=pm)
        out, err = capsys.readouterr()
        return code, out, err

    try:
        yield run
    finally:
        reset_amlws_logging()


def reset_amlws_logging() -> None:
    """Undo ``setup_logging`` (its handler holds this test's captured stderr)."""
    for name in ("amlws", "azure"):
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            if getattr(h, "_amlws", False):
                logger.removeHandler(h)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


@pytest.fixture
def debug_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], None]]:
    """Call it in the test body to turn on ``--debug`` logging to the captured stderr
    (the stream must be the test call's, not the fixture set-up's); undone afterwards."""
    from amlws.output import setup_logging

    try:
        yield lambda: setup_logging(debug=True)
    finally:
        reset_amlws_logging()


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


@pytest.fixture
def amlws_log() -> Iterator[LogCapture]:
    """Records of the ``amlws`` logger (which the CLI detaches from the root logger)."""
    logger = logging.getLogger("amlws")
    handler = LogCapture()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Install a fake distribution on ``sys.path``: a module plus a dist-info with an ``amlws`` entry point.

    ``fake_dist("acme-backend", {"acme": "acme_backend"}, {"acme_backend": "<source>"})``
    """
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def factory(dist: str, entry_points: dict[str, str], sources: dict[str, str], version: str = "1.2.3") -> Path:
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
        lines = ["[amlws]"] + [f"{k} = {v}" for k, v in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for module, source in sources.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            modules.append(module)
        return info

    yield factory
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture
def file_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The example backend's module, imported from examples/ (not installed)."""
    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    sys.modules.pop("amlws_file_backend", None)
    import amlws_file_backend

    yield amlws_file_backend
    sys.modules.pop("amlws_file_backend", None)


def stderr_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


__all__ = ["EXAMPLE_DIR", "GET_WEB_SERVICE", "REPO", "SHARED", "LogCapture", "io", "stderr_lines"]


class AcmeBackend:
    """A toy backend named ``acme`` claiming ``acme:NAME`` targets; tests subclass it with the hooks they need."""

    @hookimpl
    def amlws_backend_info(self):
        return BackendInfo(name="acme", target_help="acme:NAME")

    @hookimpl
    def amlws_claim_target(self, target):
        return Target("acme", target) if target.startswith("acme:") else None
