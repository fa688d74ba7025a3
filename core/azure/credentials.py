"""Who amlws is to Azure Resource Manager: the cloud, its ARM endpoint, and one credential factory.

Every ARM backend signs in the same way, so the choice lives here, not in a plugin:
``AMLWS_ARM_TOKEN`` (a static token: CI, the emulator, tests), else the ``credential`` setting =
``default`` | ``cli`` | ``managed-identity`` | ``service-principal`` (secret or certificate), with
the authority of the ``cloud`` setting (sovereign clouds). azure-identity is imported only when a
credential is made (the CLI must start fast).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from ..errors import AuthError, ConfigError
from ..model import is_loopback
from ..redact import register_secret

#: cloud name -> (authority host, ARM endpoint)
CLOUDS: dict[str, tuple[str, str]] = {
    "azurecloud": ("login.microsoftonline.com", "https://management.azure.com"),
    "azurechinacloud": ("login.chinacloudapi.cn", "https://management.chinacloudapi.cn"),
    "azureusgovernment": ("login.microsoftonline.us", "https://management.usgovcloudapi.net"),
}
CLOUD_NAMES = ("AzureCloud", "AzureChinaCloud", "AzureUSGovernment")


def cloud_of(settings: Any) -> tuple[str, str, str]:
    """(cloud name, authority host, ARM endpoint) for the ``cloud`` setting."""
    name = str(settings.get("cloud") or "AzureCloud")
    try:
        authority, endpoint = CLOUDS[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown cloud {name!r}", hint="use one of " + ", ".join(CLOUD_NAMES)) from None
    return name, authority, endpoint


def arm_scope(settings: Any) -> str:
    """The token scope for ARM in the configured cloud (``https://management.azure.com/.default``):
    the cloud's, even when ``arm_endpoint`` points elsewhere (an emulator, a proxy)."""
    return cloud_of(settings)[2] + "/.default"


def is_loopback_http(url: str) -> bool:
    """Whether ``url`` is plain http to this machine (:func:`amlws.model.is_loopback`): the only
    plain http a bearer token may travel over, because it never leaves the machine."""
    parts = urlsplit(url)
    return parts.scheme.lower() == "http" and is_loopback(parts.hostname or "")


def arm_endpoint(settings: Any) -> str:
    """The ARM endpoint: ``arm_endpoint`` (AMLWS_ARM_ENDPOINT) or the cloud's; https only, except
    plain http to this machine."""
    override = settings.get("arm_endpoint")
    if override:
        override = str(override).rstrip("/")
        if not override.lower().startswith("https://") and not is_loopback_http(override):
            raise ConfigError(
                f"the ARM endpoint must be https: {override}",
                hint="ARM bearer tokens are only sent over TLS (plain http only to 127.0.0.1/localhost); "
                "serve the server over https and set AMLWS_CA_BUNDLE",
            )
        return override
    return cloud_of(settings)[2]


class StaticTokenCredential:
    """A pre-acquired bearer token (``AMLWS_ARM_TOKEN``): CI, the emulator, tests."""

    def __init__(self, token: str) -> None:
        register_secret(token)
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)


def route_azure_logging(settings: Any) -> None:
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
    """The azure-core token credential chosen by settings.

    :raises AuthError: a service principal is incomplete.
    :raises ConfigError: an unknown ``credential`` kind or ``cloud``.
    """
    route_azure_logging(settings)
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


__all__ = ["CLOUDS", "CLOUD_NAMES", "StaticTokenCredential", "arm_endpoint", "arm_scope", "cloud_of", "is_loopback_http",
           "make_credential", "route_azure_logging"]
