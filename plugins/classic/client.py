"""Client for the classic web-service management API (REFERENCE §3).

Every request goes through :class:`amlws.http.HttpClient` (the one HTTP policy):
``Authorization: Bearer <workspace token or endpoint API key>``, no ``api-version`` query,
UTF-8 JSON bodies (``application/json; charset=utf-8``, not azuremlps' us-ascii). Error
bodies ``{"error": {"code", "message", "details": [...]}}`` (or plain text) become one
:class:`~amlws.errors.RemoteError` with the ``details[].code`` values; 401 exits with the
auth code, 404 with not-found.
"""

from __future__ import annotations

from typing import Any

from amlws.errors import RemoteError

from .targets import ClassicRef

#: Specific hints for the documented management error codes (REFERENCE §3.11).
DETAIL_HINTS = {
    "ManagementRequestUnauthorized": "check the workspace token (or endpoint API key) and that the location matches the workspace's region",
    "WebServiceIdNotFoundInWorkspace": "the web service id does not belong to this workspace: check --workspace and --service",
    "WebServiceNotFound": "check the web service id (amlws classic services list)",
    "WorkspaceNotFound": "check the workspace id and its location (--location)",
    "WebServiceIdInvalid": "the web service id must be a 32-hex GUID",
    "WebServiceTooManyConcurrentRequestRequirement": "lower --max-concurrent-calls (1-200)",
    "WebServiceConcurrentRequestRequirementInvalid": "use --max-concurrent-calls between 1 and 200 with --throttle-level High",
}


class ManagementClient:
    """The classic management API for one workspace's host.

    :param settings: the invocation's settings (CA bundle).
    :param token: the bearer token (workspace authorization token or endpoint API key).
    :param http: an :class:`amlws.http.HttpClient` to share (tests inject one).
    """

    def __init__(self, settings: Any, token: str, *, http: Any = None) -> None:
        if http is None:
            from amlws.http import HttpClient

            http = HttpClient(settings)
        self.http = http
        self.token = token

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def request_count(self) -> int:
        return self.http.request_count

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def _send(self, method: str, url: str, context: str, *, content_type: str | None = None, **kwargs: Any) -> Any:
        headers = self.headers()
        if content_type:
            headers["Content-Type"] = content_type
        try:
            return self.http.request(method, url, headers=headers, error_context=context, **kwargs)
        except RemoteError as exc:
            for code in reversed(exc.detail_codes + ([exc.code] if exc.code else [])):
                if code in DETAIL_HINTS:
                    exc.hint = DETAIL_HINTS[code]
                    break
            raise

    @staticmethod
    def _json(resp: Any, default: Any = None) -> Any:
        if resp.status_code == 204 or not (resp.content or b"").strip():
            return default
        from amlws.studio.bes import loads_tolerant

        try:
            # tolerant: a UTF-8 BOM or a trailing comma does not turn a list into "no endpoints"
            data = loads_tolerant(resp.content.decode("utf-8", "replace"))
        except ValueError:
            return default
        _register_keys(data)
        return data

    # --- web services ----------------------------------------------------------------

    def list_services(self, base_url: str, workspace: str) -> list[dict[str, Any]]:
        ref = ClassicRef(base_url, workspace, "-")
        url = ref.service_url.rsplit("/", 1)[0]
        data = self._json(self._send("GET", url, "list web services"), [])
        return data if isinstance(data, list) else []

    def get_service(self, ref: ClassicRef) -> dict[str, Any]:
        data = self._json(self._send("GET", ref.service_url, f"get web service {ref.service}"), {})
        return data if isinstance(data, dict) else {}

    def delete_service(self, ref: ClassicRef) -> None:
        self._send("DELETE", ref.service_url, f"remove web service {ref.service}")

    # --- endpoints -----------------------------------------------------------------------

    def list_endpoints(self, ref: ClassicRef) -> list[dict[str, Any]]:
        data = self._json(self._send("GET", ref.service_url + "/endpoints", f"list endpoints of {ref.service}"), [])
        return data if isinstance(data, list) else []

    def get_endpoint(self, ref: ClassicRef) -> dict[str, Any]:
        data = self._json(self._send("GET", ref.endpoint_url, f"get endpoint {ref.endpoint}"), {})
        return data if isinstance(data, dict) else {}

    def add_endpoint(self, ref: ClassicRef, body: dict[str, Any]) -> dict[str, Any] | None:
        """PUT the endpoint; returns the created Endpoint object when the service sends one."""
        resp = self._send("PUT", ref.endpoint_url, f"add endpoint {ref.endpoint}", json_body=body)
        data = self._json(resp)
        return data if isinstance(data, dict) else None

    def patch_endpoint(self, ref: ClassicRef, body: dict[str, Any]) -> Any:
        # Setting the same Resources twice has the same effect, so a retry after a 5xx is safe.
        return self._send("PATCH", ref.endpoint_url, f"patch endpoint {ref.endpoint}", json_body=body, idempotent=True)

    def delete_endpoint(self, ref: ClassicRef) -> None:
        self._send("DELETE", ref.endpoint_url, f"remove endpoint {ref.endpoint}")

    def refresh_endpoint(self, ref: ClassicRef, overwrite_resources: bool) -> bool:
        """POST refresh; ``False`` when the service answers 304 (no change detected)."""
        resp = self._send(
            "POST",
            ref.endpoint_url + "/refresh",
            f"refresh endpoint {ref.endpoint}",
            content_type="application/json; charset=utf-8",
            data=refresh_body(overwrite_resources),
            # Refreshing twice leaves the endpoint as refreshing once (the second says 304).
            idempotent=True,
        )
        return resp.status_code != 304


def _register_keys(data: Any) -> None:
    """Endpoint API keys seen in a response are secrets from now on (scrubbed from logs and errors)."""
    from amlws.redact import register_secret

    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict):
            for key, value in item.items():
                if str(key).lower() in ("primarykey", "secondarykey") and isinstance(value, str):
                    register_secret(value)


def refresh_body(overwrite_resources: bool) -> str:
    """Exactly what azuremlps sends: the *string* ``"True"``/``"False"`` (REFERENCE §3.9, §7.4 #4)."""
    return '{"OverwriteResources": "%s"}' % ("True" if overwrite_resources else "False")
