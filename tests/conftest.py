"""Suite-wide fixtures: the Azurite storage emulator (one per test session).

``azurite`` starts ``azurite-blob`` on a free loopback port with in-memory persistence
(``<repo>/node_modules/.bin/azurite-blob``, else ``$AMLWS_AZURITE_BIN``, else ``PATH``;
``make test`` installs it with npm) and stops it at the end of the session. A test that
needs Azurite and cannot start it fails: it never skips.

``azurite_container`` gives each test a fresh container name in it.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"successfully listens on (http://127\.0\.0\.1:(\d+))")
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Azurite:
    """A running Azurite blob service."""

    port: int
    process: subprocess.Popen

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def service(self):  # noqa: ANN201 - azure type, imported lazily
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)


def find_azurite() -> str | None:
    name = "azurite-blob.cmd" if os.name == "nt" else "azurite-blob"
    local = REPO / "node_modules" / ".bin" / name
    if local.exists():
        return str(local)
    env = os.environ.get("AMLWS_AZURITE_BIN")
    if env:
        return env
    return shutil.which("azurite-blob")


def start_azurite() -> Azurite:
    binary = find_azurite()
    if not binary:
        pytest.fail(
            "Azurite is not installed: run `npm install --no-audit --no-fund` at the repo root "
            "(or set AMLWS_AZURITE_BIN to an azurite-blob binary)",
            pytrace=False,
        )
    cmd = [binary, "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry"]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    except OSError as exc:
        pytest.fail(f"cannot start Azurite ({binary}): {exc}", pytrace=False)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="azurite-output", daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line.rstrip())
        m = _LISTENING.search(line)
        if m:
            return Azurite(int(m.group(2)), proc)
    stop_azurite(proc)
    pytest.fail("Azurite did not start:\n" + "\n".join(seen[-20:]), pytrace=False)


def stop_azurite(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


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


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """The session's Azurite blob service (started on first use, stopped at the end)."""
    instance = start_azurite()
    try:
        yield instance
    finally:
        stop_azurite(instance.process)


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


__all__ = ["AZURITE_ACCOUNT", "AZURITE_KEY", "Azurite", "REPO", "find_azurite", "start_azurite", "stop_azurite", "sys"]
