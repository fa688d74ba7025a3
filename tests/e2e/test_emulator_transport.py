"""The emulator's HTTP framing: malformed lengths, stalled and oversized bodies get an answer
(400/408/413) and a closed connection, never silence or an unbounded read (issue 13 item 7).

Raw TLS sockets, because an HTTP client would not send these requests.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from amlws.emulator import seed as demo
from amlws.emulator.server import MAX_BODY_BYTES, EmulatorServer

from .conftest import arm_ws_path

PRED = arm_ws_path(demo.DEMO_ARM_PREDICTIVE) + "?api-version=2017-01-01"
AUTH = f"Authorization: Bearer {demo.DEMO_ARM_TOKEN}\r\n"


@pytest.fixture
def small(cert_dir: Path) -> Iterator[EmulatorServer]:
    """A server with a 1 KiB body limit and a 0.3 s body timeout."""
    with EmulatorServer(seed="demo", cert_dir=cert_dir, max_body_bytes=1024, body_timeout=0.3) as server:
        yield server


def exchange(server: EmulatorServer, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes the connection (a server that keeps it open
    fails the read timeout); returns status, headers and body."""
    ctx = ssl.create_default_context(cafile=str(server.ca_path))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            conn.sendall(data)
            received = b""
            while chunk := conn.recv(65536):
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def request(path: str, headers: str, body: bytes = b"") -> bytes:
    return f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{AUTH}{headers}\r\n".encode() + body


@pytest.mark.parametrize("value", ["abc", "-5", "1e3", "+5"])
def test_a_malformed_content_length_is_a_400(emulator, value):
    status, headers, body = exchange(emulator, request(PRED, f"Content-Length: {value}\r\n", b"{}"))
    assert status == 400 and headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "InvalidContentLength"


@pytest.mark.parametrize("size_line", [b"zz", b"-5", b"", b"1_0"])
def test_a_malformed_chunk_size_is_a_400(emulator, size_line):
    status, _, body = exchange(emulator, request(PRED, "Transfer-Encoding: chunked\r\n", size_line + b"\r\n{}\r\n0\r\n\r\n"))
    assert status == 400 and json.loads(body)["error"]["code"] == "InvalidChunkSize"


def test_a_body_shorter_than_announced_is_a_408_after_the_body_timeout(small):
    status, headers, body = exchange(small, request(PRED, "Content-Length: 100\r\n", b'{"properties": '))
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "RequestTimeout"
    log = small.emulator.requests(api="transport")
    assert [e["status"] for e in log] == [408]


def test_an_oversized_body_is_refused_before_it_is_read(emulator):
    """A 200 MB PATCH is answered 413 at once, from the header: the body is never sent, nor read."""
    status, headers, body = exchange(emulator, request(PRED, f"Content-Length: {200 * 1024 * 1024}\r\n"))
    assert status == 413 and headers["connection"] == "close"
    err = json.loads(body)["error"]
    assert err["code"] == "RequestEntityTooLarge" and str(MAX_BODY_BYTES) in err["message"]
    # the default admits bench/bench_large.py's ~50 MB definitions
    assert MAX_BODY_BYTES >= 60 * 1024 * 1024


def test_an_oversized_chunked_body_is_a_413_and_a_body_at_the_limit_is_served(small):
    chunk = b"x" * 600
    framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(2)) + b"0\r\n\r\n"
    status, _, body = exchange(small, request(PRED, "Transfer-Encoding: chunked\r\n", framed))
    assert status == 413 and json.loads(body)["error"]["code"] == "RequestEntityTooLarge"
    # 1 KiB exactly reaches the service (which then validates it: not JSON -> 400 InvalidRequestContent)
    status, _, body = exchange(small, request(PRED, "Content-Length: 1024\r\nConnection: close\r\n", b" " * 1023 + b"x"))
    assert status == 400 and json.loads(body)["error"]["code"] == "InvalidRequestContent"


def test_a_classic_path_gets_the_classic_error_shape(emulator):
    path = f"/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/{demo.DEMO_ENDPOINT}"
    status, _, body = exchange(emulator, request(path, "Content-Length: abc\r\n"))
    err = json.loads(body)["error"]
    assert status == 400 and err["code"] == "BadArgument" and err["details"][0]["code"] == "InvalidContentLength"
