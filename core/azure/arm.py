"""A generic ARM resource client: get / put / patch / delete by id, list, POST actions.

Built on azure-mgmt-resource's generic ``*_by_id`` operations (``ResourceManagementClient``) and
its pipeline's ``send_request`` for what they lack (POST actions, ``nextLink`` pages), with
amlws's pipeline (:mod:`.pipeline`), poller (:mod:`.polling`), error mapping (:mod:`.errors`) and
credentials (:mod:`.credentials`). A backend names its api-version (per client or per call) and
its hint wording; everything else is here.

- bodies are sent as exact bytes when given bytes (nothing reordered or dropped), JSON otherwise;
- every mutating call waits for its long-running operation through the one poller;
- :attr:`ArmResourceClient.wire` records every response (retries and polls included).

Imported only when a backend talks to ARM (the azure SDK imports cost ~400 ms).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from ..errors import RemoteError
from ..redact import register_secret
from . import polling
from .credentials import arm_endpoint, make_credential
from .errors import DEFAULT_HINTS, Hints, error_from_response, mapped, operation_failed, safe_json
from .pipeline import WireLog, client_options

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
NO_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def raw_json(pipeline_response: Any, deserialized: Any = None, headers: Any = None) -> Any:
    """``cls=`` for the SDK operations: the answer's JSON document (not the SDK's model object)."""
    return response_json(pipeline_response.http_response)


def response_json(resp: Any) -> Any:
    """The JSON body of an answer (``{}`` when empty); a non-JSON body is a :class:`RemoteError`."""
    text = resp.text() if callable(getattr(resp, "text", None)) else resp.text
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        raise RemoteError(f"the service sent a non-JSON response (HTTP {resp.status_code})", status=resp.status_code) from None


class ArmResourceClient:
    """ARM resources by id over one ``ResourceManagementClient`` pipeline.

    :param settings: the invocation's settings (endpoint, cloud, credential, CA bundle, timeout, poll interval).
    :param api_version: the default ``api-version`` of every call (each call may override it).
    :param subscription: the subscription of the client (only the SDK's list operations use it).
    :param hints: how this backend words hints (:class:`amlws.azure.errors.Hints`).
    :param sleep: injectable wait between polls and retries (tests); default: real time.
    :param client_kwargs: extra ``ResourceManagementClient`` keyword arguments.
    """

    def __init__(self, settings: Any, *, api_version: str, subscription: str | None = None, hints: Hints = DEFAULT_HINTS,
                 sleep: Callable[[float], None] | None = None, **client_kwargs: Any) -> None:
        from azure.mgmt.resource.resources import ResourceManagementClient

        self.settings = settings
        self.api_version = api_version
        self.hints = hints
        self.endpoint = arm_endpoint(settings)
        self.poll_interval = polling.poll_interval(settings)
        self.timeout: float | None = settings.timeout()
        self._sleep = sleep
        self.wire_log = WireLog()
        kwargs = client_options(settings, self.endpoint, wire=self.wire_log, poll_interval=self.poll_interval, sleep=sleep)
        kwargs.update(client_kwargs)
        # Any: calls pass cls=raw_json (the JSON document, not the GenericResource the SDK's
        # overloads promise) and send exact bytes, which the overloads do not list either.
        self.client: Any = ResourceManagementClient(make_credential(settings), subscription or NO_SUBSCRIPTION, **kwargs)

    @property
    def wire(self) -> list[dict[str, Any]]:
        """Every response seen on the wire: ``{"method", "url", "status", "requestId"}``."""
        return self.wire_log.rows

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ArmResourceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        """The absolute URL of an ARM path on the endpoint in use."""
        return self.endpoint + "/" + path.lstrip("/")

    def mapped(self, what: str, resource: str, *, lro: tuple[int, str] | None = None) -> mapped:
        """Errors of a call mapped (:class:`amlws.azure.errors.mapped`); ``lro=(wire index, method)``
        names the initial call of a long-running operation, whose request id the error carries."""
        initial = (lambda: self.wire_log.request_id(*lro)) if lro else None
        return mapped(what, resource, self.endpoint, hints=self.hints, initial_request_id=initial)

    # --- reads -------------------------------------------------------------------------------

    def get(self, resource_id: str, *, api_version: str | None = None, params: dict[str, str] | None = None,
            what: str = "get the resource") -> dict[str, Any]:
        """``GET {id}?api-version=`` (+``params``): the JSON document."""
        with self.mapped(what, resource_id):
            return self.client.resources.get_by_id(resource_id.lstrip("/"), api_version=api_version or self.api_version,
                                                   params=params or {}, cls=raw_json)

    def pages(self, collection_path: str, *, api_version: str | None = None, params: dict[str, str] | None = None,
              what: str = "list resources") -> Iterator[dict[str, Any]]:
        """Every page of a collection (``{"value": [...], "nextLink"}``), following ``nextLink``
        (:meth:`next_page_url`) until it is absent or repeats."""
        from azure.core.rest import HttpRequest

        version = api_version or self.api_version
        seen: set[str] = set()
        with self.mapped(what, collection_path):
            page = self.client.resources.get_by_id(collection_path.lstrip("/"), api_version=version, params=params or {},
                                                   cls=raw_json)
        while True:
            yield page
            next_link = page.get("nextLink") if isinstance(page, dict) else None
            if not next_link or next_link in seen:
                return
            seen.add(next_link)
            url = self.next_page_url(next_link, collection_path, api_version=version)
            request = HttpRequest("GET", url, headers={"Accept": "application/json"})  # as the first page's
            with self.mapped(what, collection_path):
                page = response_json(self.send(request, what + " (next page)", collection_path))

    def list(self, collection_path: str, *, api_version: str | None = None, params: dict[str, str] | None = None,
             what: str = "list resources") -> list[dict[str, Any]]:
        """All items of a collection, every ``nextLink`` followed."""
        items: list[dict[str, Any]] = []
        for page in self.pages(collection_path, api_version=api_version, params=params, what=what):
            items.extend(page.get("value") or [])
        return items

    def next_page_url(self, next_link: str, collection_path: str, *, api_version: str | None = None) -> str:
        """The request for the page after one whose ``nextLink`` is ``next_link``.

        A link on the ARM endpoint in use (or relative) is followed as given (``api-version`` added
        if it lacks one). A link to another host that carries a ``$skiptoken`` becomes the list call
        itself on the endpoint in use, ``?$skiptoken=...&api-version=...`` (the continuation
        parameter ARM specs declare), so the bearer token stays with the configured endpoint.
        """
        version = api_version or self.api_version
        link = urlsplit(next_link)
        ours = urlsplit(self.endpoint)
        if link.netloc and (link.scheme.lower(), link.netloc.lower()) != (ours.scheme.lower(), ours.netloc.lower()):
            tokens = [v for k, v in parse_qsl(link.query, keep_blank_values=True) if k.lower() == "$skiptoken"]
            if tokens:
                return self.url(collection_path) + f"?$skiptoken={quote(tokens[0], safe='')}&api-version={version}"
        if "api-version=" in next_link:
            return next_link
        return next_link + ("&" if "?" in next_link else "?") + f"api-version={version}"

    # --- changes (long-running) --------------------------------------------------------------------

    def put(self, resource_id: str, body: bytes | dict[str, Any], *, api_version: str | None = None,
            what: str = "create the resource", progress: str = "create") -> dict[str, Any]:
        """``PUT {id}`` (exact bytes, or a JSON document), waited to a terminal state: the final document."""
        start = len(self.wire_log)
        with self.mapped(what, resource_id, lro=(start, "PUT")):
            poller = self.client.resources.begin_create_or_update_by_id(
                resource_id.lstrip("/"), _body(body), api_version=api_version or self.api_version,
                content_type=JSON_CONTENT_TYPE, polling=self._polling(what, progress, resource_id), cls=raw_json,
            )
            return polling.wait(poller, self.timeout, what)

    def patch(self, resource_id: str, body: bytes | dict[str, Any], *, api_version: str | None = None,
              what: str = "update the resource", progress: str = "update", read_back: bool = True) -> dict[str, Any]:
        """``PATCH {id}`` (exact bytes, or a JSON document), waited to a terminal state: the final
        document -- read back with a GET when the answer ended the operation without one
        (``read_back``: a 200 without a status URL is not the resource after the change)."""
        start = len(self.wire_log)
        with self.mapped(what, resource_id, lro=(start, "PATCH")):
            poller = self.client.resources.begin_update_by_id(
                resource_id.lstrip("/"), _body(body), api_version=api_version or self.api_version,
                content_type=JSON_CONTENT_TYPE, polling=self._polling(what, progress, resource_id), cls=raw_json,
            )
            result = polling.wait(poller, self.timeout, what)
        if read_back and not self.read_back_since(start, resource_id):
            result = self.get(resource_id, api_version=api_version)
        return result

    def delete(self, resource_id: str, *, api_version: str | None = None, what: str = "remove the resource",
               progress: str = "remove") -> None:
        """``DELETE {id}``, waited to a terminal state (202/204, ``Azure-AsyncOperation`` or ``Location``)."""
        start = len(self.wire_log)
        with self.mapped(what, resource_id, lro=(start, "DELETE")):
            poller = self.client.resources.begin_delete_by_id(
                resource_id.lstrip("/"), api_version=api_version or self.api_version,
                polling=self._polling(what, progress, resource_id),
            )
            polling.wait(poller, self.timeout, what)

    def post(self, resource_id: str, action: str, body: bytes | dict[str, Any] | None = None, *,
             api_version: str | None = None, params: dict[str, str] | None = None, what: str | None = None,
             progress: str | None = None, lro: bool = False, secret_fields: bool = False) -> Any:
        """``POST {id}/{action}?api-version=`` (``listKeys``, ``getLogs``, ``regenerateKeys`` ...):
        the answer's JSON (``None`` when it has no body).

        :param body: sent as JSON (bytes: as given); ``None``: no body, ``Content-Length: 0``.
        :param lro: a long-running action: a 202 is polled (``Azure-AsyncOperation`` or ``Location``)
            to a terminal state by the one poller; a 200 or 204 is already the outcome.
        :param progress: the verb shown with each state on stderr (default: ``action``).
        :param secret_fields: register every string value of the answer as a secret (keys).
        """
        from azure.core.rest import HttpRequest

        what = what or f"{action} {resource_id.rstrip('/').rsplit('/', 1)[-1]}"
        query = dict(params or {})
        query["api-version"] = api_version or self.api_version
        url = self.url(resource_id.rstrip("/") + "/" + action) + "?" + urlencode(query, quote_via=quote, safe="$")
        content = None if body is None else _body(body)
        headers = {} if content is None else {"Content-Type": JSON_CONTENT_TYPE}
        start = len(self.wire_log)
        with self.mapped(what, resource_id, lro=(start, "POST") if lro else None):
            request = HttpRequest("POST", url, headers=headers, content=content)
            pipeline_response = self.client._client.send_request(request, _return_pipeline_response=True)
            resp = pipeline_response.http_response
            if resp.status_code >= 400:
                raise error_from_response(resp, what, resource_id, None, self.hints)
            if lro:
                resp = self._wait_action(pipeline_response, what, progress or action, resource_id, start)
        result = safe_json(resp) if resp is not None and resp.status_code != 204 else None
        if secret_fields and isinstance(result, dict):
            for value in result.values():
                if isinstance(value, str):
                    register_secret(value)
        return result

    def _wait_action(self, initial: Any, what: str, progress: str, resource_id: str, start: int) -> Any:
        """A POST action's long-running operation: a 202 goes to the one poller; any other answer
        is the outcome (a 200 status resource that says Failed is the operation's failure)."""
        resp = initial.http_response
        report = polling.progress(progress, resource_id)
        if resp.status_code != 202:
            # 200 (a status resource "for SDK return values") or 204: the operation is over, even if the
            # answer also names a status URL (the .NET clients poll only a 202).
            body = safe_json(resp) if resp.status_code == 200 else None
            state = polling.status_of(body)
            report(polling.state_of(body) if state else "Succeeded")
            if state in polling.TERMINAL_FAILED:
                raise operation_failed(body, what, resource_id, self.wire_log.request_id(start, "POST"), self.hints)
            return resp
        method = polling.arm_polling(self.poll_interval, report, timeout=self.timeout, what=what, initial_state="Accepted",
                                     sleep=self._sleep)
        poller = polling.poll(self.client._client, initial, method, lambda pipeline_response: pipeline_response)
        final = polling.wait(poller, self.timeout, what)
        return final.http_response if final is not None else None

    # --- plumbing ----------------------------------------------------------------------------------

    def send(self, request: Any, what: str, resource: str) -> Any:
        """One raw request through the client's pipeline (auth, retries, TLS, wire log): the
        answer; an error answer raises the mapped error."""
        resp = self.client.send_request(request)
        if resp.status_code >= 400:
            raise error_from_response(resp, what, resource, None, self.hints)
        return resp

    def read_back_since(self, start: int, resource_id: str) -> bool:
        """Whether the last response after wire index ``start`` is a GET of the resource itself."""
        rows = self.wire_log.since(start)
        if not rows or rows[-1]["method"] != "GET":
            return False
        path = urlsplit(rows[-1]["url"]).path.rstrip("/").lower()
        return path.endswith("/" + resource_id.strip("/").lower())

    def _polling(self, what: str, progress: str, resource_id: str) -> Any:
        return polling.arm_polling(self.poll_interval, polling.progress(progress, resource_id), timeout=self.timeout,
                                   what=what, sleep=self._sleep)


def _body(body: bytes | dict[str, Any] | Any) -> bytes:
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


__all__ = ["JSON_CONTENT_TYPE", "ArmResourceClient", "raw_json", "response_json"]
