"""ARM resource IDs of ``Microsoft.MachineLearning/webServices`` (pure, import-light)."""

from __future__ import annotations

import re
from typing import Any

from amlws.errors import UsageError

PROVIDER = "Microsoft.MachineLearning"
TYPE_SEGMENT = "webServices"

_WS_ID = re.compile(
    r"^/?subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<resource_group>[^/]+)"
    r"/providers/Microsoft\.MachineLearning/webServices/(?P<name>[^/?#\s]+)/?$",
    re.IGNORECASE,
)
_ANY_ARM_ID = re.compile(r"^/?subscriptions/[^/]+/(resourceGroups/|providers/)", re.IGNORECASE)
_NAME_OK = re.compile(r"^[^/?#\s]+$")

TARGET_HELP = "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.MachineLearning/webServices/NAME (or -g RG -n NAME)"


def build_id(subscription: str, resource_group: str, name: str) -> str:
    """The canonical resource ID (the casing the service returns)."""
    for what, value in (("subscription", subscription), ("resource group", resource_group), ("web service name", name)):
        if not value or not _NAME_OK.match(value):
            raise UsageError(f"invalid {what} {value!r}", hint="names cannot be empty or contain '/', '?', '#' or spaces")
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{PROVIDER}/{TYPE_SEGMENT}/{name}"


def parse_id(text: str) -> dict[str, str] | None:
    """Components of a web-service resource ID; ``None`` when ``text`` is not an ARM ID at all.

    :raises UsageError: ``text`` is clearly an ARM resource ID, but of another resource type.
    """
    candidate = text.strip()
    m = _WS_ID.match(candidate)
    if m:
        return {k: v for k, v in m.groupdict().items()}
    if _ANY_ARM_ID.match(candidate):
        raise UsageError(
            f"not a {PROVIDER}/{TYPE_SEGMENT} resource ID: {candidate}",
            hint="give the web service's ID: " + TARGET_HELP,
        )
    return None


def target_parts(text: str) -> dict[str, Any] | None:
    parts = parse_id(text)
    if parts is None:
        return None
    return {**parts, "id": build_id(parts["subscription"], parts["resource_group"], parts["name"])}
