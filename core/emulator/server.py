"""The emulator core (routing, faults, request log) and :class:`EmulatorServer` (HTTPS, port 0).

One port, path-routed: ARM under ``/subscriptions/.../providers/Microsoft.MachineLearning``,
the classic management API under ``/workspaces/{ws}/webservices``, BES/RRS under each
``ApiLocation``, and the control plane under ``/_emulator/``.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from . import arm_routes, arm_throttling, bes_routes, classic_routes, mlv2_jobs, mlv2_mlflow, mlv2_routes
from .arm_responses import ArmResponses
from .bes_responses import BesResponses
from .classic_responses import ClassicResponses
from .control import Control
from .core import DROP, Request, Response, hex_id, iso
from .exceptions import ConfigurationError, EmulatorHTTPError, arm_error, classic_error
from .mlv2_jobs import Mlv2JobsResponses
from .mlv2_mlflow import MlflowResponses, mlflow_error
from .mlv2_responses import Mlv2Responses
from .store import Store

CONFIG = "emulator_config"

DEFAULT_SETTINGS: dict[str, Any] = {
    "arm_page_size": 100,
    "arm_payload_threshold": None,  # bytes of assets+input+output+package+parameters+exampleRequest before offload (None: 3 MiB)
    "bes_status_format": "names",  # or "integers" (legacy 0-4)
    "classic_patch_delay": 0,  # seconds before a PATCHed model serves RRS (real service: about 30 s)
    "storage_connection_string": None,
    # load the trained model an ARM PUT/PATCH or a classic PATCH points at, as the services do;
    # false accepts any location (rehearsing with made-up blob URIs, like Azurite's --loose)
    "check_models": True,
    # ARM's per-subscription token buckets (arm_throttling.py): {"writes": {"capacity": 50, "refill": 20}}
    "arm_throttling": {k: dict(v) for k, v in arm_throttling.ARM_BUCKETS.items()},
    "transitions": {
        # ARM operations finish on their own clock, whoever asks (ARM REFERENCE §4); the real ones take
        # ~13 s (see REALISTIC_SETTINGS), the default keeps tests fast. "polls" is a test option.
        "arm_lro": {"mode": "time", "seconds": 0.5, "count": 1},
        "bes": {"mode": "polls", "count": 1, "seconds": 0},
        # Azure ML v2 endpoint/deployment operations (perKind: "endpoint", "deployment")
        "mlv2_lro": {"mode": "time", "seconds": 0.5, "count": 1},
        # Azure ML v2 jobs: NotStarted/Queued -> Running -> Completed|Failed ("perKind": "job", "cancel":
        # CancelRequested -> Canceled)
        "mlv2_job": {"mode": "time", "seconds": 1.0, "perKind": {"cancel": 0.2}},
    },
}

#: ``--realistic-timing``: the durations of the recorded real service, for a dress rehearsal
#: (PUT/PATCH ~10-15 s, CreateRegionalBlob ~1 s, DELETE ~2 s in the azure-powershell SessionRecords;
#: a PATCHed classic model serves after about 30 s per the retraining docs).
REALISTIC_SETTINGS: dict[str, Any] = {
    "classic_patch_delay": 30,
    "transitions": {"arm_lro": {"mode": "time", "seconds": 13, "perKind": {"regional": 1, "delete": 2}},
                    # real v2 deployments take 5-20 minutes (mlv2 REFERENCE §3); shorter, but long enough
                    # that a script that does not wait shows it
                    "mlv2_lro": {"mode": "time", "seconds": 30, "perKind": {"deployment": 120}},
                    # a small real training job takes minutes (queueing, image pull, the run)
                    "mlv2_job": {"mode": "time", "seconds": 90, "perKind": {"cancel": 10}}},
}

#: Request bodies above this many bytes are refused with 413 (``max_body_bytes``). No documented
#: limit of the real ARM front door was found; 64 MiB admits bench/bench_large.py's ~50 MB definitions.
MAX_BODY_BYTES = 64 * 1024 * 1024
#: A client that announces more body than it sends is answered 408 after this many seconds.
BODY_READ_TIMEOUT = 5.0

LOG_LIMIT = 20000


def internal_error(exc: Exception) -> str:
    """What a 500 says about an unexpected exception: its type only (its text may hold request data),
    but a missing module by name, since the client sees only this line (the traceback is in the log)."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return f"module '{exc.name}' is not installed; reinstall amlws with its dependencies"
    return type(exc).__name__


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: A model location read successfully is not read again for this long (fleets patch one model onto many endpoints).
MODEL_CHECK_TTL = 2.0


class Emulator:
    """The service side: state, settings, faults, request log and the three APIs."""

    def __init__(self, store: Store, *, base_url: str = "", host: str = "127.0.0.1",
                 defaults: dict[str, Any] | None = None) -> None:
        self.store = store
        #: what settings fall back to (and return to on reset): DEFAULT_SETTINGS, or the realistic ones
        self.defaults = defaults if defaults is not None else DEFAULT_SETTINGS
        self.base_url = base_url
        self.host = host
        self._lock = threading.RLock()
        self.faults: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self._seq = 0
        self.arm = ArmResponses(self)
        self.classic = ClassicResponses(self)
        self.bes = BesResponses(self)
        self.mlv2 = Mlv2Responses(self)
        self.mlv2_jobs = Mlv2JobsResponses(self)
        self.mlflow = MlflowResponses(self)
        self.control = Control(self)
        self.on_shutdown: Any = None
        self._model_checks: dict[str, float] = {}
        #: the start configuration (the defaults, then what the emulator was started with) and the
        #: settings of this run: in memory, never in the state file
        self._start_settings: dict[str, Any] = json.loads(json.dumps(self.defaults))
        self._settings: dict[str, Any] = json.loads(json.dumps(self.defaults))
        #: ARM's per-subscription token buckets (both providers)
        self.buckets = arm_throttling.ArmBuckets()
        self.routes: list[tuple[str, str, re.Pattern[str], Any, str]] = []
        #: operation -> the handler's ``prepare_*`` method: slow reads that need no consistency with
        #: the write (a model blob), run before the management lock is taken
        self.prepare: dict[str, Any] = {}
        for api, module, responses in (("arm", arm_routes, self.arm), ("classic", classic_routes, self.classic),
                                       ("bes", bes_routes, self.bes), ("mlv2", mlv2_jobs, self.mlv2_jobs),
                                       ("mlflow", mlv2_mlflow, self.mlflow), ("mlv2", mlv2_routes, self.mlv2)):
            for method, pattern, handler, op in module.ROUTES:
                name = "rrs" if op in ("Execute", "Swagger") else "mlv2-scoring" if op in mlv2_routes.SCORING_OPERATIONS else api
                self.routes.append((name, method, re.compile("^" + pattern, re.IGNORECASE), getattr(responses, handler), op))
                if hasattr(responses, "prepare_" + handler):
                    self.prepare[op] = getattr(responses, "prepare_" + handler)

    # --- settings (configuration: given at start, kept in memory, never read from the state file) ----
    @staticmethod
    def _apply_settings(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """``base`` with ``changes`` applied (transitions merged per name); 400 for unknown names."""
        for k, v in changes.items():
            if k not in DEFAULT_SETTINGS:
                raise EmulatorHTTPError(400, {"error": {"code": "UnknownSetting", "message": f"unknown setting {k!r}",
                                                        "known": sorted(DEFAULT_SETTINGS)}})
            if k == "transitions":
                for name, cfg in (v or {}).items():
                    if name not in DEFAULT_SETTINGS["transitions"]:
                        raise EmulatorHTTPError(400, {"error": {"code": "UnknownTransition", "message": f"unknown transition {name!r}"}})
                    if not isinstance(cfg, dict) or cfg.get("mode", "polls") not in ("immediate", "time", "polls"):
                        raise EmulatorHTTPError(400, {"error": {"code": "InvalidTransition", "message": "mode must be immediate, time or polls"}})
            if k == "arm_throttling":
                arm_throttling.validate(v)
        return _merge_settings(base, {k: v for k, v in changes.items() if not (k == "transitions" and not v)})

    def configure(self, start_settings: dict[str, Any]) -> None:
        """Set the start configuration (flags, environment): what :meth:`reset` returns to."""
        config = self._apply_settings(self.defaults, start_settings)
        with self._lock:
            self._start_settings = config
            self._settings = json.loads(json.dumps(config))

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._settings))

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change settings for this run (``POST /_emulator/config``); a reset or a restart undoes it."""
        with self._lock:
            self._settings = self._apply_settings(self._settings, changes)
        if "arm_throttling" in changes:
            self.buckets.refill_all()  # new bucket sizes start full
        return self.settings()

    def setting(self, name: str) -> Any:
        return self.settings().get(name)

    def transition(self, name: str) -> dict[str, Any]:
        return dict(self.settings()["transitions"][name])

    def arm_tokens(self) -> list[str]:
        return list((self.store.get(CONFIG, "arm_tokens") or {}).get("tokens", []))

    def add_arm_tokens(self, tokens: list[str]) -> None:
        current = self.arm_tokens()
        self.store.put(CONFIG, "arm_tokens", {"tokens": current + [t for t in tokens if t not in current]})

    def model_load_error(self, location: dict[str, Any], accounts: dict[str, str] | None = None) -> str | None:
        """Why the service could not load the trained model at ``location`` (a classic ``Location`` or
        an ARM ``locationInfo``), or ``None`` when it can: a missing blob, a refused SAS, an
        unreachable host, not an ``.ilearner``. The real services load the model when they deploy it."""
        from . import blobs, mlmodel

        if not self.setting("check_models"):
            return None
        key = json.dumps([location, accounts], sort_keys=True)
        now = time.monotonic()
        if now - self._model_checks.get(key, -1e9) < MODEL_CHECK_TTL:
            return None
        try:
            self.bes.backend.load_model(location, accounts)
        except (blobs.BlobError, mlmodel.ModelError) as exc:
            return str(exc)
        self._model_checks[key] = now
        return None

    def check_model_location(self, location: dict[str, Any], storage: str | None = None) -> None:
        """A classic PATCH must name a readable .ilearner (else 400, as the real service's URL check)."""
        from . import blobs

        error = self.model_load_error(location, blobs.accounts_from(storage))
        if error is not None:
            raise classic_error(400, "RequestBodyInvalid", f"URL for the retraining model is invalid: {error}")

    # --- faults -------------------------------------------------------------------------------
    def add_fault(self, fault: dict[str, Any]) -> dict[str, Any]:
        kind = fault.get("kind", "status")
        if kind not in ("status", "latency", "drop", "throttle", "lro_failure", "bes_failure", "scoring_failure",
                        "job_failure"):
            raise EmulatorHTTPError(400, {"error": {"code": "InvalidFault", "message": f"unknown fault kind {kind!r}"}})
        f = {"id": hex_id()[:12], "kind": kind, "api": "*", "operation": "*", "method": "*", "path": None, "times": None,
             "after": 0, "matched": 0, "fired": 0, **fault}
        if kind == "status" and not isinstance(f.get("status"), int):
            raise EmulatorHTTPError(400, {"error": {"code": "InvalidFault", "message": "a status fault needs an integer status"}})
        if kind == "throttle":
            f.setdefault("limit", 10)
            f.setdefault("window", 1.0)
            f["hits"] = []
        with self._lock:
            self.faults.append(f)
        return f

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _matches(self, f: dict[str, Any], api: str, operation: str, method: str = "*", path: str = "") -> bool:
        if f["api"] not in ("*", api):
            return False
        if f["operation"] not in ("*", operation):
            return False
        if f["method"] not in ("*", method):
            return False
        return not f.get("path") or re.search(f["path"], path) is not None

    def _consume(self, f: dict[str, Any]) -> bool:
        """Count a match; True when the fault fires for it (honours ``after`` and ``times``)."""
        f["matched"] += 1
        if f["matched"] <= int(f.get("after") or 0):
            return False
        if f["times"] is not None and f["fired"] >= int(f["times"]):
            return False
        f["fired"] += 1
        return True

    def take_fault(self, kind: str, *, api: str, operation: str, target: dict[str, str] | None = None) -> dict[str, Any] | None:
        """The first fault of ``kind`` for this call; ``target`` (e.g. ``{"deployment": "blue"}``)
        must match the fault's fields of those names, when the fault has them (case-insensitive)."""
        with self._lock:
            for f in self.faults:
                if (f["kind"] == kind and self._matches(f, api, operation)
                        and all(f.get(k) in (None, "*") or str(f[k]).lower() == v.lower() for k, v in (target or {}).items())
                        and self._consume(f)):
                    return dict(f)
        return None

    def _request_faults(self, req: Request) -> Response | object | None:
        delay = 0.0
        answer: Response | object | None = None
        with self._lock:
            for f in self.faults:
                if f["kind"] in ("lro_failure", "bes_failure", "scoring_failure", "job_failure"):
                    continue
                if not self._matches(f, req.api, req.operation, req.method, req.path):
                    continue
                if f["kind"] == "throttle":
                    now = time.monotonic()
                    f["hits"] = [t for t in f["hits"] if now - t < float(f["window"])]
                    if len(f["hits"]) >= int(f["limit"]):
                        wait = max(1, math.ceil(float(f["window"]) - (now - f["hits"][0])))
                        f["fired"] += 1
                        answer = answer or self._fault_response(req, 429, wait, None)
                    else:
                        f["hits"].append(now)
                    continue
                if not self._consume(f):
                    continue
                if f["kind"] == "latency":
                    delay += float(f.get("seconds", 0.5))
                elif f["kind"] == "drop":
                    answer = answer or DROP
                elif f["kind"] == "status":
                    answer = answer or self._fault_response(req, int(f["status"]), f.get("retryAfter"), f.get("body"))
        if delay:
            time.sleep(delay)
        return answer

    def _fault_response(self, req: Request, status: int, retry_after: Any, body: Any) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if body is None:
            if req.api in ("arm", "mlv2"):
                codes = {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
                         504: "GatewayTimeout", 408: "RequestTimeout", 409: "Conflict"}
                body = arm_error(status, codes.get(status, "InjectedFault"), f"Injected fault: HTTP {status}.").body
            elif req.api == "mlflow":
                body = mlflow_error(status, "INTERNAL_ERROR" if status >= 500 else "INJECTED_FAULT", f"Injected fault: HTTP {status}.").body
            else:
                body = classic_error(status, "InjectedFault", f"Injected fault: HTTP {status}.").body
        return Response(status, body, headers)

    # --- dispatch -------------------------------------------------------------------------------
    def route(self, req: Request) -> Any:
        for api, method, pattern, handler, op in self.routes:
            if method not in ("*", req.method):
                continue
            m = pattern.match(req.path)
            if m:
                req.api, req.operation = api, op
                req.params = {k: v for k, v in m.groupdict().items() if v is not None}
                return handler
        return None

    def handle(self, req: Request) -> Response | object:
        start = time.monotonic()
        if req.path.startswith("/_emulator"):
            req.api, req.operation = "control", "Control"
            try:
                resp: Response | object = self.control.handle(req)
            except EmulatorHTTPError as exc:
                resp = Response(exc.status, exc.body, dict(exc.headers))
            return resp
        handler = self.route(req)
        fault = None
        taken = None
        if handler is not None and req.api in ("arm", "mlv2"):
            sub = arm_throttling.subscription_of(req.path)
            taken = self.buckets.take(sub, req.method, self._settings["arm_throttling"])
        if handler is None:
            req.api, req.operation = "unknown", "NotFound"
            resp = Response(404, {"error": {"code": "NotFound", "message": f"The emulator serves no {req.method} {req.path}."}})
        elif taken is not None and not taken.allowed:
            resp = Response(429, arm_throttling.throttled_body(taken, sub), {"Retry-After": str(taken.retry_after)})
        else:
            fault = self._request_faults(req)
            if fault is not None:
                resp = fault
            else:
                try:
                    # management calls are serialised (check-then-write on resources); BES/RRS lock per store call
                    if req.api in ("arm", "classic", "mlv2", "mlflow"):
                        prepare = self.prepare.get(req.operation)
                        if prepare is not None:
                            prepare(req)
                        with self.store.lock:
                            resp = handler(req)
                    else:
                        resp = handler(req)
                except EmulatorHTTPError as exc:
                    resp = Response(exc.status, exc.body, dict(exc.headers))
                except Exception as exc:  # noqa: BLE001 - the server answers 500, never dies
                    import traceback

                    traceback.print_exc()
                    message = f"Emulator error: {internal_error(exc)}"
                    err = arm_error(500, "InternalServerError", message) if req.api in ("arm", "mlv2") else \
                        mlflow_error(500, "INTERNAL_ERROR", message) if req.api == "mlflow" else \
                        classic_error(500, "InternalError", message)
                    resp = Response(500, err.body)
        if req.api in ("arm", "mlv2") and isinstance(resp, Response):
            resp.headers = {**self.arm_headers(req, taken), **resp.headers,
                            "x-ms-request-duration": str(round((time.monotonic() - start) * 1000))}
        self._log(req, resp, start, fault)
        return resp

    def arm_headers(self, req: Request, taken: arm_throttling.Taken | None = None) -> dict[str, str]:
        """What ARM sends on every response, errors included (as recorded): request, correlation and
        routing ids, and what is left of the subscription's bucket of the request's kind (reads,
        writes or deletes: :mod:`.arm_throttling`)."""
        correlation = req.header("x-ms-correlation-request-id") or str(uuid.uuid4())
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return {"x-ms-request-id": str(uuid.uuid4()), "x-ms-correlation-request-id": correlation,
                "x-ms-routing-request-id": f"LOCALHOST:{stamp}:{correlation}", **(taken.headers() if taken else {})}

    def _log(self, req: Request, resp: Any, start: float, fault: Any) -> None:
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, "time": iso(), "method": req.method, "path": req.path,
                     "query": {k: v for k, v in req.query.items() if k.lower() not in ("sig", "code")},
                     "api": req.api, "operation": req.operation,
                     "status": None if resp is DROP else resp.status,
                     "durationMs": round((time.monotonic() - start) * 1000, 2),
                     "fault": ("drop" if resp is DROP else "status") if fault is not None else None}
            self.log.append(entry)
            if len(self.log) > LOG_LIMIT:
                del self.log[: len(self.log) - LOG_LIMIT]

    def requests(self, since: int = 0, api: str | None = None, operation: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.log if e["seq"] > since and (api is None or e["api"] == api)
                    and (operation is None or e["operation"] == operation)]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def reset(self) -> None:
        """Empty the state (resources, operations, jobs, models), faults and the request log, and
        return the settings to the start configuration."""
        self.store.clear()
        self.clear_faults()
        self.clear_log()
        self.mlv2.backend.forget()
        self.buckets.refill_all()
        with self._lock:
            self._settings = json.loads(json.dumps(self._start_settings))

    def rebase(self, new_base: str) -> None:
        """Rewrite stored URLs when a persisted state is served on a new port."""
        old = (self.store.get(CONFIG, "base_url") or {}).get("url")
        if old and old != new_base:
            with self.store.lock:
                for kind, docs in self.store.dump().items():
                    for key, doc in docs.items():
                        text = json.dumps(doc)
                        if old in text:
                            self.store.put(kind, key, json.loads(text.replace(old, new_base)))
        self.store.put(CONFIG, "base_url", {"url": new_base})
        self.base_url = new_base


# --- HTTP ------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "amlws-emulator/0.1"
    # headers and body are separate writes: without TCP_NODELAY, Nagle + the client's delayed ACK
    # hold every response body back ~40 ms on a kept-alive connection (bench/bench_fleet.py)
    disable_nagle_algorithm = True
    # buffered writes (handle_one_request flushes after each response): status line, headers and
    # body leave in one write, one TLS record, instead of two
    wbufsize = 64 * 1024
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:  # quiet; the control plane has the log
        pass

    def _read_body(self) -> bytes:
        """The request body, framed by ``Content-Length`` or chunked encoding. A malformed length or
        chunk size is a 400, a body over the server's limit a 413 (refused before it is read), and a
        body shorter than announced a 400 (the client closed) or a 408 (it stalled): :class:`_Refused`."""
        limit: int = self.server.max_body_bytes  # type: ignore[attr-defined]
        self.connection.settimeout(self.server.body_timeout)  # type: ignore[attr-defined]
        try:
            if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
                return self._read_chunked(limit)
            raw = self.headers.get("Content-Length")
            if raw is None:
                return b""
            if not raw.strip().isdigit():
                raise _Refused(400, "InvalidContentLength", f"Content-Length {raw!r} is not a byte count.")
            length = int(raw)
            if length > limit:
                raise _Refused(413, "RequestEntityTooLarge",
                               f"The request body ({length} bytes) exceeds the emulator's limit of {limit} bytes.")
            data = self.rfile.read(length) if length else b""
            if len(data) < length:
                raise _Refused(400, "IncompleteBody", f"The body ended after {len(data)} of {length} announced bytes.")
            return data
        except TimeoutError:
            raise _Refused(408, "RequestTimeout", "The request body did not arrive in time.") from None
        finally:
            self.connection.settimeout(self.timeout)

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            field = line.split(b";")[0].strip()
            try:
                size = int(field, 16)
            except ValueError:
                raise _Refused(400, "InvalidChunkSize", f"Chunk size {field[:40]!r} is not hexadecimal.") from None
            if size < 0 or not field.isalnum():
                raise _Refused(400, "InvalidChunkSize", f"Chunk size {field[:40]!r} is not hexadecimal.")
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > limit:
                raise _Refused(413, "RequestEntityTooLarge", f"The request body exceeds the emulator's limit of {limit} bytes.")
            data = self.rfile.read(size)
            if len(data) < size:
                raise _Refused(400, "IncompleteBody", "The body ended inside a chunk.")
            chunks.append(data)
            self.rfile.readline(1024)

    def _refuse(self, refused: _Refused, started: float) -> None:
        """Answer a request whose body could not be read, and close the connection (the stream
        position is unknown)."""
        emu: Emulator = self.server.emulator  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        arm = re.match(r"^/(subscriptions|providers)/", parts.path, re.IGNORECASE) is not None
        body = (arm_error if arm else classic_error)(refused.status, refused.code, refused.message).body
        req = Request(method=self.command, path=parts.path, query={}, headers={}, body=b"", base_url=emu.base_url,
                      api="transport", operation=refused.code)
        emu._log(req, Response(refused.status), started, None)
        data = json.dumps(body).encode("utf-8")
        self.close_connection = True
        self.send_response(refused.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        emu: Emulator = self.server.emulator  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        try:
            body = self._read_body()
        except _Refused as refused:
            self._refuse(refused, time.monotonic())
            return
        req = Request(method=self.command, path=parts.path, query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                      headers={k.lower(): v for k, v in self.headers.items()}, body=body, base_url=emu.base_url)
        resp = emu.handle(req)
        if resp is DROP:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        assert isinstance(resp, Response)
        data = resp.encode()
        self.send_response(resp.status)
        headers = {"x-ms-request-id": hex_id(), **resp.headers}
        if data:
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        for k, v in headers.items():
            self.send_header(k, v)
        if resp.status not in (204, 304):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _handle


class _Refused(Exception):
    """A request whose body cannot be read as framed: answered with ``status`` and closed."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


_S = TypeVar("_S", bound="_Server")  # typeshed types the handler's server argument as Self


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    ssl_context: ssl.SSLContext | None = None
    emulator: Emulator
    max_body_bytes: int = MAX_BODY_BYTES
    body_timeout: float = BODY_READ_TIMEOUT

    def finish_request(self: _S, request: Any, client_address: Any) -> None:
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        request.settimeout(30)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)  # handshake in the worker thread
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:  # connection resets are normal
        pass


def _merge_settings(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, transition by transition."""
    merged = json.loads(json.dumps(base))
    for k, v in override.items():
        if k in ("transitions", "arm_throttling") and isinstance(v, dict):
            for name, cfg in v.items():
                merged.setdefault(k, {}).setdefault(name, {}).update(cfg)
        else:
            merged[k] = v
    return merged


class EmulatorServer:
    """The emulator over HTTPS in a background thread. Use as a context manager or start()/stop().

    :param host: bind address (loopback by default; demo credentials are refused elsewhere).
    :param port: 0 picks a free port.
    :param state: ``":memory:"`` or a SQLite file.
    :param seed: ``"demo"``, a seed dict, or a path to a seed JSON file (applied when the state is empty).
    :param cert_dir: where ``ca.pem``/``server.pem`` live (default: beside the state file, or a temp dir).
    :param storage_connection_string: default storage for BES outputs (Azurite's connection string).
    :param settings: initial settings (``arm_page_size``, ``transitions``, ...).
    :param realistic_timing: start from :data:`REALISTIC_SETTINGS` (real operation durations, the
        documented classic model-switch delay) instead of the fast test defaults; ``settings`` still wins.
    :param max_body_bytes: larger request bodies are refused with 413.
    :param body_timeout: seconds to wait for an announced body before answering 408.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: str | Path = ":memory:", *, seed: Any = None,
                 cert_dir: str | Path | None = None, storage_connection_string: str | None = None,
                 settings: dict[str, Any] | None = None, tls: bool = True, realistic_timing: bool = False,
                 max_body_bytes: int = MAX_BODY_BYTES, body_timeout: float = BODY_READ_TIMEOUT) -> None:
        self.host, self.port, self.state = host, port, str(state)
        self.seed, self.storage_connection_string = seed, storage_connection_string
        self.initial_settings = settings or {}
        self.defaults = _merge_settings(DEFAULT_SETTINGS, REALISTIC_SETTINGS) if realistic_timing else DEFAULT_SETTINGS
        self.max_body_bytes, self.body_timeout = max_body_bytes, body_timeout
        self.tls = tls
        self._cert_dir = Path(cert_dir) if cert_dir else None
        self._tmp: str | None = None
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.emulator: Emulator | None = None
        self.ca_path: Path | None = None
        self.seed_summary: dict[str, Any] = {}

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host if ':' not in self.host else '[' + self.host + ']'}:{self.port}"

    def start(self) -> EmulatorServer:
        from .seed import DEMO_CREDENTIAL_VALUES, apply_seed, load_seed

        if not is_loopback(self.host) and (self.seed == "demo"):
            raise ValueError(f"refusing to serve the well-known demo credentials on non-loopback address {self.host}")
        start_settings = dict(self.initial_settings)
        if self.storage_connection_string:
            start_settings["storage_connection_string"] = self.storage_connection_string
        if start_settings.get("storage_connection_string"):
            from .blobs import check_connection_string

            check_connection_string(start_settings["storage_connection_string"])
        store = Store(self.state)
        emu = Emulator(store, host=self.host, defaults=self.defaults)
        try:
            emu.configure(start_settings)
        except EmulatorHTTPError as exc:
            store.close()
            raise ConfigurationError(f"invalid settings: {exc.body['error']['message']}",
                                     hint="see docs/emulator.md, Control plane") from None
        store.delete(CONFIG, "settings")  # written by earlier versions: settings are configuration, not state
        if self.tls:
            from .certs import ensure_certificates

            if self._cert_dir is None:
                if self.state == ":memory:":
                    self._tmp = tempfile.mkdtemp(prefix="amlws-emulator-")
                    self._cert_dir = Path(self._tmp)
                else:
                    self._cert_dir = Path(self.state).resolve().parent / "certs"
            hosts = ("127.0.0.1", "localhost") if is_loopback(self.host) else (self.host, "127.0.0.1", "localhost")
            paths = ensure_certificates(self._cert_dir, hosts)
            self.ca_path = paths.ca
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(paths.cert), str(paths.key))
        httpd = _Server((self.host, self.port), _Handler, bind_and_activate=True)
        httpd.ssl_context = ctx if self.tls else None
        httpd.emulator = emu
        httpd.max_body_bytes, httpd.body_timeout = self.max_body_bytes, self.body_timeout
        self.port = httpd.server_address[1]
        try:
            emu.rebase(self.url)
            if not is_loopback(self.host) and set(emu.arm_tokens()) & DEMO_CREDENTIAL_VALUES:
                raise ValueError(f"refusing to serve the well-known demo credentials on non-loopback address {self.host}")
            dump = store.dump()
            if self.seed is not None and not dump.get("classic_workspace") and not dump.get("arm_subscription"):
                try:
                    data = load_seed(self.seed)
                    self.seed_summary = apply_seed(emu, data)
                except ValueError:
                    raise
                except (OSError, KeyError, TypeError) as exc:
                    raise ValueError(f"invalid seed {self.seed!r}: {type(exc).__name__}: {exc}") from None
        except BaseException:
            httpd.server_close()
            store.close()
            self._cleanup_tmp()
            raise
        self.emulator = emu
        self._httpd = httpd
        emu.on_shutdown = lambda: threading.Thread(target=self.stop, daemon=True).start()
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="amlws-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self.emulator is not None:
            for t in list(self.emulator.bes.backend.threads):
                t.join(timeout=10)
            self.emulator.store.close()
        self._cleanup_tmp()

    def _cleanup_tmp(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def wait(self) -> None:
        """Block until the server stops (``POST /_emulator/shutdown`` or :meth:`stop`)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The environment variables a client needs (demo credentials when the demo seed is loaded)."""
        from .seed import client_env

        return client_env(self)
