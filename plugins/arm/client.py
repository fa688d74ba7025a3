"""The ARM web-services client: the ``Microsoft.MachineLearning/webServices`` layer over
:class:`amlws.azure.arm.ArmResourceClient` (the Azure plumbing every backend stands on).

Imported only when an ARM command runs (azure SDK imports cost ~400 ms).

- every call carries ``api-version=2017-01-01`` (keyword ``api_version``, as v26 requires);
- PUT/PATCH bodies are sent as exact JSON bytes (nothing reordered or dropped);
- a large service's payload is read back from ``payloadsLocation`` (:mod:`.payloads`);
- a PATCH answered without a status URL is read back with a GET (the spec says so);
- ``CreateRegionalBlob`` is a POST action polled by the one poller (:mod:`amlws.azure.polling`);
- credentials, cloud, endpoint, retries, polling and the error mapping are :mod:`amlws.azure`'s;
  this module only words the hints for web services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amlws.azure.arm import ArmResourceClient
from amlws.azure.credentials import (
    CLOUD_NAMES,
    CLOUDS,
    StaticTokenCredential,
    arm_endpoint,
    cloud_of,
    make_credential,
)
from amlws.azure.credentials import is_loopback_http as _is_loopback_http
from amlws.azure.errors import Hints
from amlws.azure.pipeline import retry_policy as _retry_policy
from amlws.azure.polling import DEFAULT_POLL_INTERVAL, poll_interval

from .definition import API_VERSION
from .payloads import inline_payloads

#: How the web-services backend words the hints of the one ARM hint table.
HINTS = Hints(
    noun="web service",
    codes={
        "CannotChangeStorageAccount":
            "keep properties.storageAccount.name as the live service has it (export again and re-apply your edit)",
        "PerRegionPayloadNotFound":
            "create the regional properties first: amlws add-region ID --region REGION (then get it again)",
    },
    statuses={404: "check the subscription, resource group and web service name (amlws list)"},
)


class ArmClient(ArmResourceClient):
    """Web-service operations over one ``ResourceManagementClient`` pipeline.

    :param settings: the invocation's settings (endpoint, credential, CA bundle, poll interval).
    :param subscription: subscription for the list operations.
    :param sleep: injectable wait between polls and retries (tests).
    """

    def __init__(self, settings: Any, *, subscription: str | None = None, sleep: Callable[[float], None] | None = None,
                 **client_kwargs: Any) -> None:
        super().__init__(settings, api_version=API_VERSION, subscription=subscription, hints=HINTS, sleep=sleep,
                         **client_kwargs)

    def __enter__(self) -> ArmClient:
        return self

    def get(self, resource_id: str, *, region: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """``GET {id}?api-version=2017-01-01[&region=]``: the JSON document, with a large service's
        payload read back from ``payloadsLocation`` (:mod:`.payloads`), so it is always whole."""
        kwargs.setdefault("what", "get the web service")
        if region:
            kwargs["params"] = {"region": region}
        return inline_payloads(super().get(resource_id, **kwargs), self.settings)

    def list_keys(self, resource_id: str) -> dict[str, Any]:
        """``GET {id}/listKeys`` (a GET in this API): ``{"primary", "secondary"}`` (registered as secrets)."""
        from amlws.redact import register_secret

        keys = super().get(resource_id.rstrip("/") + "/listKeys", what="list the web service keys")
        for value in (keys or {}).values():
            if isinstance(value, str):
                register_secret(value)
        return keys

    def list(self, collection_path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """GET a ``PaginatedWebServicesList`` and follow every ``nextLink``."""
        kwargs.setdefault("what", "list web services")
        return super().list(collection_path, **kwargs)

    def patch(self, resource_id: str, body: bytes | dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """``PATCH {id}`` with exact bytes, poll to a terminal state, return the final document (read
        back with a GET when the PATCH answer ended it: the spec: "The PATCH API call is an asynchronous
        operation. To determine whether it has completed successfully, you must perform a Get operation.")."""
        kwargs.setdefault("what", "update the web service")
        return inline_payloads(super().patch(resource_id, body, **kwargs), self.settings)

    def put(self, resource_id: str, body: bytes | dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """``PUT {id}`` with exact bytes (+LRO); the created/overwritten document."""
        kwargs.setdefault("what", "create the web service")
        return inline_payloads(super().put(resource_id, body, **kwargs), self.settings)

    def delete(self, resource_id: str, **kwargs: Any) -> None:
        """``DELETE {id}`` (+LRO: 202/204, ``Azure-AsyncOperation`` or ``Location``)."""
        kwargs.setdefault("what", "remove the web service")
        super().delete(resource_id, **kwargs)

    def create_regional_blob(self, resource_id: str, region: str) -> None:
        """``POST {id}/CreateRegionalBlob?region=``, polled to a terminal state by the one poller."""
        self.post(resource_id, "CreateRegionalBlob", params={"region": region}, lro=True,
                  what="create the regional properties", progress=f"add region {region} to")


__all__ = ["CLOUDS", "CLOUD_NAMES", "DEFAULT_POLL_INTERVAL", "HINTS", "ArmClient", "StaticTokenCredential", "_is_loopback_http",
           "_retry_policy", "arm_endpoint", "cloud_of", "make_credential", "poll_interval"]
