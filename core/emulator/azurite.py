"""Start and stop Azurite, the Azure Storage emulator from npm, for the demo, tests and benchmarks.

Azurite is a Node.js program (``npm install`` at the repository root puts it in
``node_modules/.bin``). This module finds it, starts ``azurite-blob`` on a free loopback port
with in-memory persistence, reads the port it prints, and gives the full connection string
for the well-known ``devstoreaccount1`` account (the short ``UseDevelopmentStorage=true``
form is rejected by older azure-storage-blob releases).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

ACCOUNT = "devstoreaccount1"
#: Azurite's published, well-known demo key (not a secret: it only opens local emulators).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"successfully listens on http://127\.0\.0\.1:(\d+)")


class AzuriteError(RuntimeError):
    """Azurite is not installed or did not start; the message says what to do."""


def find_azurite(repo: Path | None = None) -> str | None:
    """``<repo>/node_modules/.bin/azurite-blob``, else ``$AMLWS_AZURITE_BIN``, else ``PATH``."""
    name = "azurite-blob.cmd" if os.name == "nt" else "azurite-blob"
    roots = [repo] if repo else []
    roots.append(Path.cwd())
    for root in roots:
        local = root / "node_modules" / ".bin" / name
        if local.exists():
            return str(local)
    return os.environ.get("AMLWS_AZURITE_BIN") or shutil.which(name)


def connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


class Azurite:
    """A running ``azurite-blob`` (a context manager that stops it)."""

    def __init__(self, port: int, process: subprocess.Popen) -> None:
        self.port = port
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return connection_string(self.port)

    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_azurite(*, repo: Path | None = None, binary: str | None = None, timeout: float = 60.0) -> Azurite:
    """Start ``azurite-blob`` on 127.0.0.1, a free port, in memory; raises :class:`AzuriteError`."""
    binary = binary or find_azurite(repo)
    if not binary:
        raise AzuriteError(
            "Azurite is not installed: run `npm install` at the repository root "
            "(or set AMLWS_AZURITE_BIN to an azurite-blob binary)"
        )
    cmd = [binary, "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
           "--skipApiVersionCheck", "--disableTelemetry", "--silent"]  # no access log: a line per request to pump
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    except OSError as exc:
        raise AzuriteError(f"cannot start Azurite ({binary}): {exc} (is Node.js installed?)") from None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="azurite-output", daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line.rstrip())
        match = _LISTENING.search(line)
        if match:
            return Azurite(int(match.group(1)), proc)
    stop_process(proc)
    raise AzuriteError("Azurite did not start:\n" + "\n".join(seen[-20:]))


def stop_process(proc: subprocess.Popen | None) -> None:
    """Terminate a child process, killing it if it does not exit within 10 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
