"""The ARM wire client: azure-mgmt-resource generic ``*_by_id`` operations + azure-identity.

Imported only when an ARM command runs (azure SDK imports cost ~400 ms).

- every call carries ``api-version=2017-01-01`` (keyword ``api_version``, as v26 requires);
- PUT/PATCH bodies are sent as exact JSON bytes (nothing reordered or dropped);
- long-running operations are polled by ``ARMPolling`` at the server's ``Retry-After`` or
  at ``poll_interval`` seconds (default 1, not the SDK's 30);
- credentials: ``AMLWS_ARM_TOKEN`` (static token), else ``credential`` = ``default`` |
  ``cli`` | ``managed-identity`` | ``service-principal`` (secret or certificate);
- ``cloud`` picks the authority and the ARM endpoint; ``arm_endpoint`` overrides the endpoint;
- TLS verification always on, ``ca_bundle`` (``AMLWS_CA_BUNDLE``) as ``connection_verify``;
- azure ``HttpResponseError`` becomes a :mod:`amlws.errors` error carrying the ARM error
  code, message, details and the *initial* ``x-ms-request-id``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from amlws.errors import (
    AmlwsError,
    AuthError,
    ConfigError,
    ConnectionFailed,
    NotFoundError,
    OperationFailed,
    OperationTimeout,
    RemoteError,
)
from amlws.http import error_parts
from amlws.progress import current as current_reporter
from amlws.redact import redact, register_secret

from .definition import API_VERSION
from .payloads import inline_payloads

log = logging.getLogger("amlws.arm")

#: cloud name -> (authority host, ARM endpoint)
CLOUDS: dict[str, tuple[str, str]] = {
    "azurecloud": ("login.microsoftonline.com", "https://management.azure.com"),
    "azurechinacloud": ("login.chinacloudapi.cn", "https://management.chinacloudapi.cn"),
    "azureusgovernment": ("login.microsoftonline.us", "https://management.usgovcloudapi.net"),
}
CLOUD_NAMES = ("AzureCloud", "AzureChinaCloud", "AzureUSGovernment")
DEFAULT_POLL_INTERVAL = 1.0
_TERMINAL_OK = {"succeeded"}
_TERMINAL_FAILED = {"failed", "canceled", "cancelled"}


def cloud_of(settings: Any) -> tuple[str, str, str]:
    """(cloud name, authority host, ARM endpoint) for the ``cloud`` setting."""
    name = str(settings.get("cloud") or "AzureCloud")
    try:
        authority, endpoint = CLOUDS[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown cloud {name!r}", hint="use one of " + ", ".join(CLOUD_NAMES)) from None
    return name, authority, endpoint


def arm_endpoint(settings: Any) -> str:
    """The ARM endpoint: ``arm_endpoint`` (AMLWS_ARM_ENDPOINT) or the cloud's."""
    override = settings.get("arm_endpoint")
    if override:
        override = str(override).rstrip("/")
        if not override.lower().startswith("https://") and not _is_loopback_http(override):
            raise ConfigError(
                f"the ARM endpoint must be https: {override}",
                hint="ARM bearer tokens are only sent over TLS (plain http only to 127.0.0.1/localhost); "
                "serve the server over https and set AMLWS_CA_BUNDLE",
            )
        return override
    return cloud_of(settings)[2]


def _is_loopback_http(url: str) -> bool:
    """Plain http is accepted only to this machine (local test servers): a token never leaves it."""
    from urllib.parse import urlsplit

    from amlws.model import is_loopback

    parts = urlsplit(url)
    return parts.scheme.lower() == "http" and is_loopback(parts.hostname or "")


def _allow_loopback_http_policy() -> Any:
    """azure-core refuses bearer tokens over http; this per-call policy lifts that for loopback only.

    It runs before the authentication policy on every request of the pipeline, LRO polls included
    (a per-operation ``enforce_https=False`` is not inherited by polls).
    """
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class AllowLoopbackHttp(SansIOHTTPPolicy):
        def on_request(self, request: Any) -> None:
            if _is_loopback_http(request.http_request.url):
                request.context["enforce_https"] = False

    return AllowLoopbackHttp()


def poll_interval(settings: Any) -> float:
    value = settings.get("poll_interval")
    if value is None:
        return DEFAULT_POLL_INTERVAL
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        raise ConfigError(f"invalid poll_interval {value!r}", hint="give a number of seconds") from None


class StaticTokenCredential:
    """A pre-acquired bearer token (``AMLWS_ARM_TOKEN``): CI, the emulator, tests."""

    def __init__(self, token: str) -> None:
        register_secret(token)
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)


def _route_azure_logging(settings: Any) -> None:
    """azure-identity logs multi-line warnings through Python's last-resort handler; send them
    through amlws's (redacting) stderr handler with ``-v``/``--debug``, and nowhere otherwise:
    the error amlws raises already says what failed."""
    az = logging.getLogger("azure")
    if az.handlers:
        return
    ours = [h for h in logging.getLogger("amlws").handlers if getattr(h, "_amlws", False)]
    if (getattr(settings, "verbose", False) or getattr(settings, "debug", False)) and ours:
        for handler in ours:
            az.addHandler(handler)
    else:
        az.addHandler(logging.NullHandler())
    az.propagate = False


def make_credential(settings: Any) -> Any:
    """The credential for ARM, chosen by settings; raises :class:`AuthError` when incomplete."""
    _route_azure_logging(settings)
    token = settings.get("arm_token")
    if token:
        return StaticTokenCredential(str(token))
    kind = str(settings.get("credential") or "default").lower().replace("_", "-")
    _, authority, _ = cloud_of(settings)
    tenant = settings.get("tenant", env_aliases=("AZURE_TENANT_ID",))
    client_id = settings.get("client_id", env_aliases=("AZURE_CLIENT_ID",))
    import azure.identity as identity

    if kind == "default":
        return identity.DefaultAzureCredential(authority=authority)
    if kind in ("cli", "azure-cli"):
        return identity.AzureCliCredential(tenant_id=tenant)
    if kind in ("managed-identity", "msi"):
        return identity.ManagedIdentityCredential(client_id=client_id) if client_id else identity.ManagedIdentityCredential()
    if kind in ("service-principal", "sp"):
        secret = settings.get("client_secret", env_aliases=("AZURE_CLIENT_SECRET",))
        cert = settings.get("client_certificate", env_aliases=("AZURE_CLIENT_CERTIFICATE_PATH",))
        missing = [n for n, v in (("tenant", tenant), ("client_id", client_id)) if not v]
        if not secret and not cert:
            missing.append("client_secret or client_certificate")
        if missing:
            raise AuthError(
                "service-principal login needs " + ", ".join(missing),
                hint="set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)",
            )
        if secret:
            register_secret(str(secret))
            return identity.ClientSecretCredential(tenant, client_id, secret, authority=authority)
        return identity.CertificateCredential(tenant, client_id, certificate_path=cert, authority=authority)
    raise ConfigError(
        f"unknown credential kind {kind!r}", hint="use default, cli, managed-identity or service-principal"
    )


class ArmClient:
    """Web-service operations over one ``ResourceManagementClient`` pipeline.

    :param settings: the invocation's settings (endpoint, credential, CA bundle, poll interval).
    :param subscription: subscription for the list operations.
    :param sleep: injectable sleep for the hand-written poller (CreateRegionalBlob).
    """

    def __init__(self, settings: Any, *, subscription: str | None = None, sleep: Callable[[float], None] = time.sleep,
                 **client_kwargs: Any) -> None:
        from azure.mgmt.resource.resources import ResourceManagementClient

        from amlws import __version__ as amlws_version
        from amlws.http import ca_bundle

        self.settings = settings
        self.endpoint = arm_endpoint(settings)
        self.poll_interval = poll_interval(settings)
        self.sleep = sleep
        self.timeout = settings.timeout()
        #: every response seen on the wire (retries and polls included): method, url, status, requestId.
        self.wire: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        _, _, default_endpoint = cloud_of(settings)
        credential = make_credential(settings)
        kwargs: dict[str, Any] = {
            "base_url": self.endpoint,
            "credential_scopes": [default_endpoint + "/.default"],
            "connection_verify": ca_bundle(settings),
            "polling_interval": self.poll_interval,
            "raw_response_hook": self._record,
            "retry_policy": _retry_policy(timeout=self.timeout),
            "user_agent": f"amlws/{amlws_version}",
        }
        if _is_loopback_http(self.endpoint):
            kwargs["per_call_policies"] = [_allow_loopback_http_policy()]
        kwargs.update(client_kwargs)
        # Any: every call passes cls=_raw_json (the JSON document, not the GenericResource the SDK's
        # overloads promise) and sends exact bytes, which the overloads do not list either.
        self.client: Any = ResourceManagementClient(credential, subscription or "00000000-0000-0000-0000-000000000000", **kwargs)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ArmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- bookkeeping -------------------------------------------------------------------

    def _record(self, pipeline_response: Any) -> None:
        req = pipeline_response.http_request
        resp = pipeline_response.http_response
        with self._lock:
            self.wire.append(
                {
                    "method": req.method,
                    "url": redact(str(req.url)),
                    "status": resp.status_code,
                    "requestId": resp.headers.get("x-ms-request-id"),
                }
            )

    def _initial_request_id(self, since: int, method: str) -> str | None:
        """``x-ms-request-id`` of the last ``method`` response after index ``since`` (the accepted initial call)."""
        with self._lock:
            rows = [r for r in self.wire[since:] if r["method"] == method]
        return rows[-1]["requestId"] if rows else None

    def url(self, path: str) -> str:
        return self.endpoint + "/" + path.lstrip("/")

    # --- operations ----------------------------------------------------------------------

    def get(self, resource_id: str, *, region: str | None = None) -> dict[str, Any]:
        """``GET {id}?api-version=2017-01-01[&region=]``: the JSON document, with a large service's
        payload read back from ``payloadsLocation`` (:mod:`.payloads`), so it is always whole."""
        params = {"region": region} if region else {}
        with _mapped(self, "get the web service", resource_id):
            document = self.client.resources.get_by_id(
                resource_id.lstrip("/"), api_version=API_VERSION, params=params, cls=_raw_json
            )
        return inline_payloads(document, self.settings)

    def list_keys(self, resource_id: str) -> dict[str, Any]:
        """``GET {id}/listKeys``: ``{"primary", "secondary"}`` (registered as secrets)."""
        with _mapped(self, "list the web service keys", resource_id):
            keys = self.client.resources.get_by_id(resource_id.lstrip("/") + "/listKeys", api_version=API_VERSION, cls=_raw_json)
        for value in (keys or {}).values():
            if isinstance(value, str):
                register_secret(value)
        return keys

    def list(self, collection_path: str) -> list[dict[str, Any]]:
        """GET a ``PaginatedWebServicesList`` and follow every ``nextLink``."""
        from azure.core.rest import HttpRequest

        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        with _mapped(self, "list web services", collection_path):
            page = self.client.resources.get_by_id(collection_path.lstrip("/"), api_version=API_VERSION, cls=_raw_json)
            while True:
                items.extend(page.get("value") or [])
                next_link = page.get("nextLink")
                if not next_link or next_link in seen:
                    return items
                seen.add(next_link)
                url = self._next_page_url(next_link, collection_path)
                request = HttpRequest("GET", url, headers={"Accept": "application/json"})  # as the first page's
                page = _json(self._send(request, "list web services (next page)", collection_path))

    def _next_page_url(self, next_link: str, collection_path: str) -> str:
        """The request for the page after one whose ``nextLink`` is ``next_link``.

        A link on the ARM endpoint in use (or relative) is followed as given (``api-version`` added
        if it lacks one). A link to another host that carries a ``$skiptoken`` becomes the list call
        itself on the endpoint in use, ``?$skiptoken=...&api-version=2017-01-01`` (the spec's
        continuation parameter; what the cmdlets send: they re-issue the list call with the token
        taken from ``nextLink``), so the bearer token stays with the configured endpoint.
        """
        from urllib.parse import parse_qsl, quote, urlsplit

        link = urlsplit(next_link)
        ours = urlsplit(self.endpoint)
        if link.netloc and (link.scheme.lower(), link.netloc.lower()) != (ours.scheme.lower(), ours.netloc.lower()):
            tokens = [v for k, v in parse_qsl(link.query, keep_blank_values=True) if k.lower() == "$skiptoken"]
            if tokens:
                return self.url(collection_path) + f"?$skiptoken={quote(tokens[0], safe='')}&api-version={API_VERSION}"
        if "api-version=" in next_link:
            return next_link
        return next_link + ("&" if "?" in next_link else "?") + f"api-version={API_VERSION}"

    def patch(self, resource_id: str, body: bytes) -> dict[str, Any]:
        """``PATCH {id}`` with exact bytes, poll to a terminal state, return the final GET's document."""
        start = len(self.wire)
        with _mapped(self, "update the web service", resource_id, lro=(start, "PATCH")):
            poller = self.client.resources.begin_update_by_id(
                resource_id.lstrip("/"), body, api_version=API_VERSION, content_type="application/json; charset=utf-8",
                polling=_arm_polling(self.poll_interval, self._progress("update", resource_id)), cls=_raw_json,
            )
            result = self._wait(poller, "update")
        if not self._read_back_since(start, resource_id):
            # A 200 without a status URL ends the poller on the PATCH answer itself; the spec: "The PATCH
            # API call is an asynchronous operation. To determine whether it has completed successfully,
            # you must perform a Get operation."
            result = self.get(resource_id)
        return inline_payloads(result, self.settings)

    def _read_back_since(self, start: int, resource_id: str) -> bool:
        """Whether the last response after wire index ``start`` is a GET of the resource itself."""
        from urllib.parse import urlsplit

        with self._lock:
            rows = self.wire[start:]
        if not rows or rows[-1]["method"] != "GET":
            return False
        path = urlsplit(rows[-1]["url"]).path.rstrip("/").lower()
        return path.endswith("/" + resource_id.strip("/").lower())

    def put(self, resource_id: str, body: bytes) -> dict[str, Any]:
        """``PUT {id}`` with exact bytes (+LRO); the created/overwritten document."""
        start = len(self.wire)
        with _mapped(self, "create the web service", resource_id, lro=(start, "PUT")):
            poller = self.client.resources.begin_create_or_update_by_id(
                resource_id.lstrip("/"), body, api_version=API_VERSION, content_type="application/json; charset=utf-8",
                polling=_arm_polling(self.poll_interval, self._progress("create", resource_id)), cls=_raw_json,
            )
            result = self._wait(poller, "create")
        return inline_payloads(result, self.settings)

    def delete(self, resource_id: str) -> None:
        """``DELETE {id}`` (+LRO: 202/204, ``Azure-AsyncOperation`` or ``Location``)."""
        start = len(self.wire)
        with _mapped(self, "remove the web service", resource_id, lro=(start, "DELETE")):
            poller = self.client.resources.begin_delete_by_id(
                resource_id.lstrip("/"), api_version=API_VERSION,
                polling=_arm_polling(self.poll_interval, self._progress("remove", resource_id)),
            )
            self._wait(poller, "remove")

    def create_regional_blob(self, resource_id: str, region: str) -> None:
        """``POST {id}/CreateRegionalBlob?region=`` through the same pipeline, polled to a terminal state."""
        from urllib.parse import quote

        from azure.core.rest import HttpRequest

        start = len(self.wire)
        url = self.url(resource_id) + f"/CreateRegionalBlob?region={quote(region)}&api-version={API_VERSION}"
        report = self._progress(f"add region {region} to", resource_id)
        with _mapped(self, "create the regional properties", resource_id, lro=(start, "POST")):
            resp = self._send(HttpRequest("POST", url), "create the regional properties", resource_id)
            self._poll_async(resp, "create the regional properties", resource_id, start, report)

    # --- plumbing -------------------------------------------------------------------------

    def _progress(self, what: str, resource_id: str) -> Callable[[str], None]:
        """A callback for each state of a long-running operation: reported, with the seconds since
        now, to the invocation's progress reporter (``update MyService: Updating (4s)`` on stderr)."""
        reporter, started, subject = current_reporter(), time.monotonic(), f"{what} {resource_id.rstrip('/').rsplit('/', 1)[-1]}"
        return lambda state: reporter.update(subject, state or "InProgress", time.monotonic() - started)

    def _wait(self, poller: Any, what: str) -> Any:
        result = poller.result(timeout=self.timeout)
        if not poller.done():
            raise OperationTimeout(
                f"the {what} did not finish within {self.timeout:g} s (status {poller.status()})",
                hint="raise --timeout, or check the service in the portal",
            )
        return result

    def _send(self, request: Any, what: str, resource: str) -> Any:
        """One raw request through the client's pipeline (auth, retries, TLS); errors mapped."""
        resp = self.client.send_request(request)
        if resp.status_code >= 400:
            raise _error_from_response(resp, what, resource, None)
        return resp

    def _poll_async(self, resp: Any, what: str, resource: str, start: int,
                    report: Callable[[str], None] = lambda state: None) -> Any:
        """Poll ``Azure-AsyncOperation`` (or ``Location``) to a terminal state, honouring ``Retry-After``;
        each state goes to ``report``."""
        from azure.core.rest import HttpRequest

        from amlws.http import parse_retry_after

        if resp.status_code != 202:
            # 200 (AsyncOperationStatus, "Used for SDK return values") or 204: the operation is over,
            # even if the answer also names a status URL (the .NET client polls only a 202).
            body = _safe_json(resp) if resp.status_code == 200 else None
            if isinstance(body, dict) and _status_of(body) in _TERMINAL_FAILED:
                report(_state_of(body))
                raise _operation_failed(body, what, resource, self._initial_request_id(start, "POST"))
            report(_state_of(body) if isinstance(body, dict) and _status_of(body) else "Succeeded")
            return resp
        url = resp.headers.get("Azure-AsyncOperation") or resp.headers.get("Location")
        via_location = "Azure-AsyncOperation" not in resp.headers
        if not url:
            return resp
        deadline = time.monotonic() + self.timeout if self.timeout else None
        last = resp
        report("Accepted")
        while True:
            delay = parse_retry_after(last.headers.get("Retry-After"))
            delay = self.poll_interval if delay is None else min(delay, 120.0)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise OperationTimeout(f"the operation to {what} did not finish within {self.timeout:g} s",
                                       hint="raise --timeout, or check the service in the portal")
            self.sleep(delay)
            last = self._send(HttpRequest("GET", url), what + " (status)", resource)
            if via_location:
                report("InProgress" if last.status_code == 202 else "Succeeded")
                if last.status_code == 202:
                    continue
                return last
            body = _json(last)
            status = _status_of(body)
            report(_state_of(body))
            if status in _TERMINAL_OK:
                return last
            if status in _TERMINAL_FAILED:
                raise _operation_failed(body, what, resource, self._initial_request_id(start, "POST"))


def _status_of(body: Any) -> str:
    """The state in an operation-status body, lower-cased: ``status`` (what the service sends) or
    ``provisioningState`` (the spec's ``AsyncOperationStatus``)."""
    if not isinstance(body, dict):
        return ""
    return str(body.get("status") or body.get("provisioningState") or "").lower()


def _state_of(body: Any) -> str:
    """The state in an operation-status body as the service wrote it (for progress display)."""
    return str(body.get("status") or body.get("provisioningState") or "InProgress") if isinstance(body, dict) else "InProgress"


def _arm_polling(interval: float, on_status: Callable[[str], None] = lambda state: None) -> Any:
    """``ARMPolling`` for PUT/PATCH/DELETE, with two changes to its ``Azure-AsyncOperation`` algorithm:

    - a **204** answer is final (the spec's "No Content" of ``WebServices_Remove``; its example sends an
      ``azure-asyncoperation`` header on the 204 too, which the .NET client never polls);
    - the status body's state is read from ``status`` or, as the spec's ``AsyncOperationStatus``
      names it, ``provisioningState`` (azure-core knows only ``status``).

    ``on_status`` gets the state after the initial answer and after every poll (on the poller's thread).
    """
    from azure.core.polling.base_polling import LocationPolling, StatusCheckPolling
    from azure.mgmt.core.polling.arm_polling import ARMPolling, AzureAsyncOperationPolling, BodyContentPolling

    # Public API only (no azure-core private helpers), so a newer azure-core cannot break it.
    class AsyncOperationPolling(AzureAsyncOperationPolling):
        def set_initial_status(self, pipeline_response: Any) -> str:
            status = super().set_initial_status(pipeline_response)  # records the request and status URL
            return "Succeeded" if pipeline_response.http_response.status_code == 204 else status

        def get_status(self, pipeline_response: Any) -> str:
            try:
                body = json.loads(pipeline_response.http_response.text() or "null")
            except ValueError:
                body = None
            if isinstance(body, dict) and not body.get("status") and body.get("provisioningState"):
                return str(body["provisioningState"])
            return super().get_status(pipeline_response)

    class ReportingPolling(ARMPolling):
        def initialize(self, *args: Any, **kwargs: Any) -> None:
            super().initialize(*args, **kwargs)
            on_status(self.status())

        def update_status(self) -> None:
            super().update_status()
            on_status(self.status())

    return ReportingPolling(interval, lro_algorithms=[AsyncOperationPolling(), LocationPolling(), BodyContentPolling(), StatusCheckPolling()])


def _is_tls_failure(error: BaseException | None) -> bool:
    import ssl

    seen = 0
    while error is not None and seen < 6:
        if isinstance(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(error):
            return True
        error = getattr(error, "inner_exception", None) or error.__cause__ or error.__context__
        seen += 1
    return False


def _retry_policy(timeout: float | None = None, **kwargs: Any) -> Any:
    """azure-core's retry policy set to amlws's one HTTP policy (:mod:`amlws.http`): the same retry
    budget, backoff with jitter, statuses (408/429/500/502/503/504), ``Retry-After`` capped the same
    way, 429 retried for any method (throttled before processing), the overall ``--timeout`` as the
    retry deadline, and no pointless retries of TLS verification failures."""
    import random

    from azure.core.pipeline.policies import RetryPolicy

    from amlws import http as policy

    class ArmRetryPolicy(RetryPolicy):
        def increment(self, settings: Any, response: Any = None, error: Any = None) -> bool:
            if error is not None and _is_tls_failure(error):
                return False
            return super().increment(settings, response=response, error=error)

        def is_retry(self, settings: Any, response: Any) -> bool:
            # only amlws's statuses (azure-core would retry any status that carries Retry-After)
            if response.http_response.status_code not in policy.RETRY_STATUSES:
                return False
            if not self._is_method_retryable(settings, response.http_request, response=response.http_response):
                return False
            return bool(settings["total"])

        def _is_method_retryable(self, settings: Any, request: Any, response: Any = None) -> bool:
            if response is not None and response.status_code == 429:
                return True
            return super()._is_method_retryable(settings, request, response)

        def get_backoff_time(self, settings: Any) -> float:
            base = super().get_backoff_time(settings)
            return base / 2 + random.uniform(0, base / 2) if base else 0.0

        def get_retry_after(self, response: Any) -> Any:
            value = super().get_retry_after(response)
            return None if value is None else min(float(value), policy.MAX_RETRY_AFTER)

    options: dict[str, Any] = {
        "retry_total": policy.DEFAULT_RETRIES,
        "retry_status": policy.DEFAULT_RETRIES,
        "retry_connect": policy.DEFAULT_RETRIES,
        "retry_read": policy.DEFAULT_RETRIES,
        "retry_backoff_factor": policy.DEFAULT_BACKOFF,
        "retry_backoff_max": policy.MAX_BACKOFF,
    }
    if timeout:
        options["timeout"] = timeout
    options.update(kwargs)
    retry = ArmRetryPolicy(**options)
    retry._retry_on_status_codes = set(policy.RETRY_STATUSES)  # azure-core also retries 506-599; amlws does not
    return retry


def _raw_json(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
    return _json(pipeline_response.http_response)


def _json(resp: Any) -> Any:
    text = resp.text() if callable(getattr(resp, "text", None)) else resp.text
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        raise RemoteError(f"the service sent a non-JSON response (HTTP {resp.status_code})", status=resp.status_code) from None


class _mapped:
    """Turn azure-core exceptions into amlws errors (a context manager)."""

    def __init__(self, client: ArmClient, what: str, resource: str, lro: tuple[int, str] | None = None) -> None:
        self.client = client
        self.what = what
        self.resource = resource
        self.lro = lro

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        if exc is None or isinstance(exc, AmlwsError):
            return False
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        initial = self.client._initial_request_id(*self.lro) if self.lro else None
        if isinstance(exc, HttpResponseError) and exc.response is not None:
            resp = exc.response
            body = _safe_json(resp)
            if self.lro and resp.status_code is not None and resp.status_code < 400:
                raise _operation_failed(body, self.what, self.resource, initial) from None
            raise _error_from_response(resp, self.what, self.resource, initial) from None
        if isinstance(exc, ClientAuthenticationError):
            raise AuthError(
                f"cannot get an ARM token: {redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}",
                hint="sign in (az login), set AMLWS_ARM_TOKEN, or configure a service principal (amlws config set credential ...)",
            ) from None
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            text = str(exc)
            if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
                raise ConnectionFailed(
                    f"TLS verification failed for {self.client.endpoint}", hint="set AMLWS_CA_BUNDLE to the CA certificate (PEM) of that host"
                ) from None
            raise ConnectionFailed(
                f"cannot reach {self.client.endpoint} to {self.what}: {redact(text)[:200]}",
                hint="check AMLWS_ARM_ENDPOINT / --cloud, your network and proxy settings",
            ) from None
        return False


def _safe_json(resp: Any) -> Any:
    try:
        return json.loads(resp.text() or "null")
    except (ValueError, TypeError):
        return None


def _describe(head: str, code: str | None, message: str | None, details: list[dict[str, Any]], request_id: str | None) -> str:
    """``head: CODE: message [DetailCode] detail message (request id X)`` with the service's text verbatim."""
    text = ": ".join(p for p in (head, code, message) if p)
    for d in details:
        dl = {str(k).lower(): v for k, v in d.items()}
        if dl.get("code") or dl.get("message"):
            text += f" [{dl.get('code')}] {dl.get('message') or ''}".rstrip() if dl.get("code") else f" {dl.get('message')}"
    if request_id:
        text += f" (request id {request_id})"
    return redact(text)


def _hint_for(code: str | None, detail_codes: list[str], status: int | None) -> str | None:
    codes = {c.lower() for c in detail_codes if c} | ({code.lower()} if code else set())
    if "cannotchangestorageaccount" in codes:
        return "keep properties.storageAccount.name as the live service has it (export again and re-apply your edit)"
    if "perregionpayloadnotfound" in codes:
        return "create the regional properties first: amlws add-region ID --region REGION (then get it again)"
    return {
        400: "the service rejected the definition; check it with amlws import",
        401: "check the ARM credentials (az login, AMLWS_ARM_TOKEN, service principal)",
        403: "the credentials lack permission on this web service (needs Contributor or similar)",
        404: "check the subscription, resource group and web service name (amlws list)",
        409: "the web service changed or is busy; re-read it and retry",
        429: "ARM is throttling: retry later",
    }.get(status or 0)


def _error_from_response(resp: Any, what: str, resource: str, initial_request_id: str | None) -> AmlwsError:
    status = resp.status_code
    body = _safe_json(resp)
    err = e if isinstance(body, dict) and isinstance(e := body.get("error"), dict) else (body if isinstance(body, dict) else {})
    code, message, details = error_parts(err)
    if not message and not code:
        text = (resp.text() or "").strip()
        message = text.splitlines()[0][:300] if text else None
    detail_codes = [str(d.get("code") or d.get("Code")) for d in details if d.get("code") or d.get("Code")]
    request_id = initial_request_id or resp.headers.get("x-ms-request-id")
    reason = getattr(resp, "reason", None) or ""
    text = _describe(f"HTTP {status} {reason}".strip() + f" ({what})", code, message, details, request_id)
    hint = _hint_for(code, detail_codes, status)
    if status == 404:
        return NotFoundError(f"{resource}: {text}", hint=hint, status=status, code=code, request_id=request_id)
    if status in (401, 403):
        return AuthError(text, hint=hint, status=status, code=code, request_id=request_id)
    return RemoteError(text, status=status, code=code, detail_codes=detail_codes, request_id=request_id, hint=hint)


def _operation_failed(body: Any, what: str, resource: str, initial_request_id: str | None) -> OperationFailed:
    body = body if isinstance(body, dict) else {}
    lowered = {str(k).lower(): v for k, v in body.items()}
    err = lowered.get("error") or lowered.get("errorinfo") or {}
    code, message, details = error_parts(err if isinstance(err, dict) else {})
    status = lowered.get("status") or lowered.get("provisioningstate") or "Failed"
    text = _describe(f"the operation to {what} ended {status}", code, message, details, initial_request_id)
    detail_codes = [str(d.get("code")) for d in details if d.get("code")]
    exc = OperationFailed(
        text,
        hint=_hint_for(code, detail_codes, None) or "see the error above; the service kept its previous definition",
        code=code,
        detail_codes=detail_codes,
        request_id=initial_request_id,
    )
    exc.code = code  # type: ignore[attr-defined]
    exc.request_id = initial_request_id  # type: ignore[attr-defined]
    return exc


__all__ = ["ArmClient", "StaticTokenCredential", "arm_endpoint", "cloud_of", "make_credential", "poll_interval"]
