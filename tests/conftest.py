"""Suite-wide fixtures: the Azurite storage emulator (one per test session).

``azurite`` starts ``azurite-blob`` on a free loopback port with in-memory persistence
(``<repo>/node_modules/.bin/azurite-blob``, else ``$AMLWS_AZURITE_BIN``, else ``PATH``;
``make test`` installs it with npm) and stops it at the end of the session. A test that
needs Azurite and cannot start it fails: it never skips.

``azurite_container`` gives each test a fresh container name in it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amlws.emulator.azurite import ACCOUNT as AZURITE_ACCOUNT
from amlws.emulator.azurite import ACCOUNT_KEY as AZURITE_KEY
from amlws.emulator.azurite import Azurite, AzuriteError, stop_process
from amlws.emulator.azurite import start_azurite as _start_azurite

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0


def start_azurite() -> Azurite:
    try:
        return _start_azurite(repo=REPO, timeout=START_TIMEOUT)
    except AzuriteError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _isolated_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """amlws writes history before every remote change: never into the real user state dir."""
    if os.environ.get("AMLWS_STATE_DIR"):
        yield
        return
    os.environ["AMLWS_STATE_DIR"] = str(tmp_path_factory.mktemp("amlws-state"))
    try:
        yield
    finally:
        os.environ.pop("AMLWS_STATE_DIR", None)


@pytest.fixture(scope="session", autouse=True)
def _no_model_head_by_default() -> Iterator[None]:
    """``amlws update`` HEADs the new model blob before sending. Tests use invented storage hosts
    (``acct.blob.core.windows.net``...): on a machine with internet access that HEAD would reach
    Azure and answer 403/404. The tests of the check itself pass ``--check-model``."""
    saved = os.environ.get("AMLWS_CHECK_MODEL")
    os.environ["AMLWS_CHECK_MODEL"] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AMLWS_CHECK_MODEL", None)
        else:
            os.environ["AMLWS_CHECK_MODEL"] = saved


@pytest.fixture
def blobs() -> Iterator[Any]:
    """A loopback blob store (path-style, as Azurite) that answers as each test says: for the
    HEAD of a model blob that ``amlws update`` sends before changing a service."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """The session's Azurite blob service (started on first use, stopped at the end)."""
    instance = start_azurite()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def azurite_container(azurite: Azurite) -> Iterator[str]:
    """A fresh, empty container name (created by the code under test or by the test)."""
    name = "t" + uuid.uuid4().hex[:20]
    yield name
    try:
        with azurite.service() as svc:
            svc.delete_container(name)
    except Exception:  # noqa: BLE001 - best effort clean-up; in-memory anyway
        pass


__all__ = ["AZURITE_ACCOUNT", "AZURITE_KEY", "REPO", "Azurite", "start_azurite", "stop_process"]


# --- the suite runs every test: a skip is a failure ------------------------------------------

_SKIPPED: list[str] = []


@pytest.fixture(scope="session")
def ca() -> Any:
    """A test certificate authority (``trustme``) for the TLS stand-ins of Azure services."""
    import trustme

    return trustme.CA()


@pytest.fixture(scope="session")
def tls_httpserver(ca: Any) -> Iterator[Any]:
    """A ``pytest-httpserver`` on 127.0.0.1 over TLS with a certificate from ``ca``: ARM stand-ins
    are always https, as bearer tokens require. Shared by the session: clear it in your fixture."""
    import ssl

    from pytest_httpserver import HTTPServer

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append(report.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nothing skips for want of data or a service: the data is vendored (tests/data) and the
    services are started by fixtures. A skip would hide a test from a contributor, so it fails
    the run (platform skips only apply on Windows, where they are expected)."""
    if _SKIPPED and os.name == "posix" and not os.environ.get("AMLWS_ALLOW_SKIPS"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(f"error: {len(_SKIPPED)} test(s) skipped ({', '.join(_SKIPPED[:3])}): the suite must run every test", red=True)
