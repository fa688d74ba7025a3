"""The Azure ML v2 client: online endpoints, deployments, model versions — the
``Microsoft.MachineLearningServices`` layer over :class:`amlws.azure.arm.ArmResourceClient`.

Imported only when a v2 command runs (azure SDK imports cost ~400 ms). Every call carries the
configured api-version (default ``2025-12-01``; setting ``mlv2_api_version``, ``--api-version``).
PUTs of endpoints and deployments are long-running (``Azure-AsyncOperation``, REFERENCE.md §3)
and wait through the one poller; model-version PUTs are synchronous (§8). POST actions are sent
with no body (``Content-Length: 0``), as the REST samples do (§2.1).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from amlws.azure.arm import ArmResourceClient
from amlws.azure.errors import Hints
from amlws.errors import NotFoundError

from .definition import API_VERSION
from .ids import ModelRef, endpoint_id

#: How this backend words the hints of the one ARM hint table.
HINTS = Hints(
    noun="online endpoint or deployment",
    codes={
        "NoRegisteredProviderFound": "the service refuses this api-version: set another with amlws config set mlv2_api_version "
                                     "VERSION (or --api-version)",
        "InvalidApiVersionParameter": "the service refuses this api-version: set another with amlws config set mlv2_api_version "
                                      "VERSION (or --api-version)",
    },
    statuses={404: "check the subscription, resource group, workspace, endpoint and deployment names (amlws mlv2 endpoints list)"},
)


def api_version_of(settings: Any) -> str:
    """The api-version to send: ``--api-version`` (invocation option), the ``mlv2_api_version``
    setting, or the default ``2025-12-01``."""
    invocation = getattr(settings, "invocation", None)
    given = (getattr(invocation, "options", None) or {}).get("api_version") if invocation is not None else None
    return str(given or settings.get("mlv2_api_version") or API_VERSION)


class V2Client(ArmResourceClient):
    """Online endpoints, deployments and model versions of one subscription.

    :param settings: the invocation's settings (endpoint, credential, CA bundle, timeout, poll interval).
    :param sleep: injectable wait between polls and retries (tests).
    """

    def __init__(self, settings: Any, *, subscription: str | None = None, sleep: Callable[[float], None] | None = None,
                 **client_kwargs: Any) -> None:
        super().__init__(settings, api_version=api_version_of(settings), subscription=subscription, hints=HINTS, sleep=sleep,
                         **client_kwargs)

    def __enter__(self) -> V2Client:
        return self

    # --- endpoints and deployments ------------------------------------------------------------

    def get_deployment(self, deployment_id: str) -> dict[str, Any]:
        return self.get(deployment_id, what="get the online deployment")

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        return self.get(endpoint_id(endpoint), what="get the online endpoint")

    def list_deployments(self, endpoint: str) -> list[dict[str, Any]]:
        return self.list(endpoint_id(endpoint) + "/deployments", what="list the online deployments")

    def list_endpoints(self, workspace: str) -> list[dict[str, Any]]:
        return self.list(workspace + "/onlineEndpoints", what="list the online endpoints")

    def put_deployment(self, deployment_id: str, body: bytes | dict[str, Any], *, verb: str = "update") -> dict[str, Any]:
        """``PUT`` the whole deployment and wait for its operation to end (``Succeeded``)."""
        return self.put(deployment_id, body, what=f"{verb} the online deployment", progress=verb)

    def put_endpoint(self, endpoint: str, body: bytes | dict[str, Any]) -> dict[str, Any]:
        """``PUT`` the whole endpoint (traffic changes: PATCH carries only tags and identity, §6)."""
        return self.put(endpoint_id(endpoint), body, what="update the online endpoint", progress="update")

    def delete_deployment(self, deployment_id: str) -> None:
        self.delete(deployment_id, what="remove the online deployment")

    def list_keys(self, endpoint: str) -> dict[str, Any]:
        """``POST …/listKeys``: ``{"primaryKey", "secondaryKey"}``, registered as secrets (never logged)."""
        return self.post(endpoint_id(endpoint), "listKeys", what="list the endpoint keys", secret_fields=True) or {}

    def get_token(self, endpoint: str) -> dict[str, Any]:
        """``POST …/token`` (``authMode: AMLToken``): ``{"accessToken", "expiryTimeUtc", …}``."""
        return self.post(endpoint_id(endpoint), "token", what="get the endpoint token", secret_fields=True) or {}

    def get_logs(self, deployment_id: str, *, container: str = "InferenceServer", tail: int | None = None) -> str:
        body: dict[str, Any] = {"containerType": container}
        if tail is not None:
            body["tail"] = tail
        result = self.post(deployment_id, "getLogs", body, what="get the deployment logs") or {}
        return str(result.get("content") or "")

    # --- models --------------------------------------------------------------------------------

    def get_model_container(self, workspace: str, name: str) -> dict[str, Any]:
        return self.get(f"{workspace}/models/{name}", what="get the model")

    def list_models(self, workspace: str) -> list[dict[str, Any]]:
        return self.list(f"{workspace}/models", what="list the models")

    def list_model_versions(self, workspace: str, name: str) -> list[dict[str, Any]]:
        return self.list(f"{workspace}/models/{name}/versions", what="list the model versions")

    def get_model_version(self, version_id: str) -> dict[str, Any]:
        return self.get(version_id, what="get the model version")

    def resolve_model(self, ref: ModelRef, workspace: str) -> ModelRef:
        """``ref`` with ``@latest`` replaced by the container's ``latestVersion`` (one GET)."""
        if ref.version is not None:
            return ref
        container = self.get_model_container(ref.workspace or workspace, ref.name)
        latest = (container.get("properties") or {}).get("latestVersion")
        if not latest:
            raise NotFoundError(f"model {ref.name} has no versions yet", hint="register one: amlws mlv2 models register")
        return ModelRef(ref.name, str(latest), ref.registry, ref.workspace)

    def next_version(self, workspace: str, name: str) -> str:
        """The container's ``nextVersion``; ``"1"`` when the model does not exist yet (§8)."""
        try:
            container = self.get_model_container(workspace, name)
        except NotFoundError:
            return "1"
        return str((container.get("properties") or {}).get("nextVersion") or "1")

    def put_model_version(self, workspace: str, name: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT …/models/NAME/versions/V``: synchronous (200/201 with the version, §8), so one request,
        not the long-running PUT whose poller would read the version back."""
        return self.put_now(f"{workspace}/models/{name}/versions/{version}", body, what="register the model version")

    # --- jobs ---------------------------------------------------------------------------------------

    def put_job(self, workspace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT W/jobs/NAME``: synchronous (200/201 with the job and its ``properties.status``, §2.4)."""
        return self.put_now(f"{workspace}/jobs/{name}", body, what=f"submit job {name}")

    def put_now(self, resource: str, body: dict[str, Any], *, what: str) -> dict[str, Any]:
        """One ``PUT`` of a synchronous resource (no poller): the answer's document."""
        from urllib.parse import quote, urlencode

        from azure.core.rest import HttpRequest

        from amlws.azure.arm import JSON_CONTENT_TYPE, response_json

        url = self.url(resource) + "?" + urlencode({"api-version": self.api_version}, quote_via=quote)
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        request = HttpRequest("PUT", url, headers={"Content-Type": JSON_CONTENT_TYPE}, content=content)
        with self.mapped(what, resource):
            resp = self.send(request, what, resource)
        result = response_json(resp)
        return result if isinstance(result, dict) else {}
