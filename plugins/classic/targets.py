"""Classic targets: regions, management hosts, and endpoint management URLs.

A classic endpoint is addressed as the portal and the docs show it::

    https://{prefix}management.azureml{.net|.de|-int.net}/workspaces/{ws}/webservices/{svc}/endpoints/{name}

or by ``--workspace/--service/--endpoint`` with ``--location`` (AzureMLPS region names).
``classic_endpoint`` (``AMLWS_CLASSIC_ENDPOINT``) replaces the management host (the
emulator, a test server). Import-light: no ``requests`` here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from amlws.errors import UsageError
from amlws.model import Target

BACKEND = "classic"

#: AzureMLPS ``-Location`` values (REFERENCE §1.1) -> (host prefix, domain suffix).
REGIONS: dict[str, tuple[str, str]] = {
    "South Central US": ("", ".net"),
    "West Europe": ("europewest.", ".net"),
    "Southeast Asia": ("asiasoutheast.", ".net"),
    "Japan East": ("japaneast.", ".net"),
    "Germany Central": ("germanycentral.", ".de"),
    "West Central US": ("uswestcentral.", ".net"),
    "Integration Test": ("", "-int.net"),
}

_REGION_KEYS = {re.sub(r"\s+", "", k.lower()): k for k in REGIONS}

#: Regional management hosts (REFERENCE §1.1); ``management-tm`` is the R client's Traffic-Manager alias.
MANAGEMENT_HOST_RE = re.compile(r"^(?:[a-z0-9-]+\.)?management(?:-tm)?\.azureml(?:\.net|\.de|-int\.net)$", re.IGNORECASE)
_PATH_RE = re.compile(
    r"^workspaces/(?P<ws>[^/]+)/webservices/(?P<svc>[^/]+)(?:/endpoints/(?P<ep>[^/]+))?/?$", re.IGNORECASE
)
# Ids are GUIDs (32 hex digits, dashes tolerated), but the published samples obfuscate them into
# 26-27 letters and digits (workspaces/00bf70534500b34rebfa1843d6/webservices/af3er32ad393852f9b30ac9a35b,
# REFERENCE §3): accept 16-64 letters, digits and inner dashes and leave the exact check to the
# service (WebServiceIdInvalid). Placeholders ('xxx', '--scoring experiment--') are still refused.
_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{14,62}[0-9A-Za-z]$")
_ENDPOINT_NAME_RE = re.compile(r"^[a-z0-9]{1,24}$")

TARGET_HELP = "https://management.azureml.net/workspaces/WS/webservices/SVC/endpoints/NAME (or --workspace/--service/--endpoint)"


def canonical_location(location: str) -> str:
    """The AzureMLPS region name for ``location`` (case- and space-insensitive).

    :raises UsageError: for an unknown location, listing the valid ones.
    """
    key = re.sub(r"\s+", "", str(location).lower())
    if key not in _REGION_KEYS:
        raise UsageError(
            f"unknown classic location {location!r}",
            hint="use one of: " + ", ".join(f"'{r}'" for r in REGIONS),
        )
    return _REGION_KEYS[key]


def management_base_url(location: str) -> str:
    """``https://{prefix}management.azureml{suffix}/`` for an AzureMLPS location name."""
    prefix, suffix = REGIONS[canonical_location(location)]
    return f"https://{prefix}management.azureml{suffix}/"


def normalise_base(url: str) -> str:
    url = str(url).strip()
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise UsageError(f"invalid classic management endpoint {url!r}", hint="give a URL like https://127.0.0.1:8443/")
    return url if url.endswith("/") else url + "/"


def check_id(value: str, what: str) -> str:
    """Workspace and web service ids: GUID-like tokens (see ``_ID_RE``)."""
    if not value or not _ID_RE.match(value):
        flag = "--workspace" if what == "workspace" else "--service"
        raise UsageError(
            f"invalid {what} id {value!r}: expected a GUID (32 hexadecimal characters)",
            hint=f"copy the {what} id from the portal or from amlws classic services list ({flag})",
        )
    return value


def check_endpoint_name(name: str) -> str:
    """Endpoint names are 1-24 lowercase letters or digits (portal rule, REFERENCE §3.6)."""
    if not name or not _ENDPOINT_NAME_RE.match(name):
        raise UsageError(
            f"invalid endpoint name {name!r}: 1-24 lowercase letters or digits",
            hint="choose a name like ep01 or rentalloc001",
        )
    return name


@dataclass(frozen=True)
class ClassicRef:
    """A parsed classic target: management base URL, workspace, web service, endpoint (optional)."""

    base_url: str
    workspace: str
    service: str
    endpoint: str | None = None

    @property
    def service_url(self) -> str:
        return f"{self.base_url}workspaces/{quote(self.workspace, safe='')}/webservices/{quote(self.service, safe='')}"

    @property
    def endpoint_url(self) -> str:
        if not self.endpoint:
            raise UsageError(
                f"the target names the web service {self.service}, not one of its endpoints",
                hint="append /endpoints/NAME to the URL or pass --endpoint NAME",
            )
        return f"{self.service_url}/endpoints/{quote(self.endpoint, safe='')}"

    @property
    def id(self) -> str:
        return self.endpoint_url if self.endpoint else self.service_url

    def with_endpoint(self, name: str | None) -> ClassicRef:
        return ClassicRef(self.base_url, self.workspace, self.service, name)

    def validate(self) -> ClassicRef:
        check_id(self.workspace, "workspace")
        check_id(self.service, "web service")
        return self

    def to_target(self) -> Target:
        parts: dict[str, Any] = {
            "base_url": self.base_url,
            "workspace": self.workspace,
            "service": self.service,
            "endpoint": self.endpoint,
            "kind": "endpoint" if self.endpoint else "webservice",
        }
        return Target(BACKEND, self.id, parts)

    @classmethod
    def from_target(cls, target: Target) -> ClassicRef:
        p = target.parts
        if not p.get("base_url"):
            ref = parse_url(target.id, None)
            if ref is None:
                raise UsageError(f"not a classic target: {target.id}", hint=f"targets look like {TARGET_HELP}")
            return ref
        return cls(p["base_url"], p["workspace"], p["service"], p.get("endpoint"))


def parse_url(url: str, override_base: str | None) -> ClassicRef | None:
    """Parse a management URL; ``None`` when it is not one.

    Accepted: any regional management host, and any URL under ``override_base``
    (``classic_endpoint``). With an override set, requests go to the override even for
    a URL naming a real Azure host (the emulator stands in for Azure).
    """
    text = str(url).strip()
    if "://" not in text:
        return None
    parts = urlsplit(text)
    host = parts.hostname or ""
    rest: str | None = None
    if override_base:
        base = normalise_base(override_base)
        b = urlsplit(base)
        if (parts.scheme.lower(), parts.netloc.lower()) == (b.scheme.lower(), b.netloc.lower()) and parts.path.startswith(b.path):
            rest = parts.path[len(b.path):]
    if rest is None and MANAGEMENT_HOST_RE.match(host):
        rest = parts.path.lstrip("/")
        base = (override_base and normalise_base(override_base)) or f"{parts.scheme.lower()}://{parts.netloc.lower()}/"
    if rest is None:
        return None
    m = _PATH_RE.match(rest.lstrip("/"))
    if not m:
        return None
    ep = m.group("ep")
    return ClassicRef(base, unquote(m.group("ws")), unquote(m.group("svc")), unquote(ep) if ep else None)
