"""Azure ML v2 resource IDs and model references (pure, import-light).

A target is an online **endpoint** or one of its **deployments**::

    /subscriptions/S/resourceGroups/RG/providers/Microsoft.MachineLearningServices/workspaces/WS/onlineEndpoints/EP
    /subscriptions/S/resourceGroups/RG/providers/Microsoft.MachineLearningServices/workspaces/WS/onlineEndpoints/EP/deployments/DEP

A model reference names a model version, in any of the forms ``az ml`` and the studio print:
``azureml:NAME:VERSION``, ``NAME:VERSION``, ``NAME@latest`` (``azureml:NAME@latest``), the
version's ARM id (``…/workspaces/WS/models/NAME/versions/V``), or a registry asset id
``azureml://registries/REG/models/NAME/versions/V``. A deployment's ``properties.model`` holds
the ARM id (or the registry id), never the short forms (REFERENCE.md §5.3, §8).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from amlws.errors import UsageError

PROVIDER = "Microsoft.MachineLearningServices"

_WS = (r"^/?subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<resource_group>[^/]+)"
       r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<workspace>[^/]+)")
_TARGET_ID = re.compile(_WS + r"/onlineEndpoints/(?P<endpoint>[^/]+)(?:/deployments/(?P<deployment>[^/?#\s]+))?/?$", re.IGNORECASE)
_ANY_V2_ID = re.compile(_WS, re.IGNORECASE)
_MODEL_ID = re.compile(_WS + r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/?#\s]+)/?$", re.IGNORECASE)
_REGISTRY_ID = re.compile(r"^azureml://registries/(?P<registry>[^/]+)/models/(?P<name>[^/]+)/versions/(?P<version>[^/?#\s]+)/?$", re.IGNORECASE)
#: the spec's path-parameter pattern for endpoint, deployment, model names (REFERENCE.md §1)
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")

TARGET_HELP = ("/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.MachineLearningServices/workspaces/WS/"
               "onlineEndpoints/EP[/deployments/DEP] (or -g RG -w WS -e EP [-d DEP])")
MODEL_HELP = "azureml:NAME:VERSION, NAME:VERSION, NAME@latest, the version's ARM id, or azureml://registries/REG/models/NAME/versions/V"


def _check_name(what: str, value: str | None) -> str:
    if not value or not NAME_PATTERN.match(value):
        raise UsageError(f"invalid {what} {value!r}",
                         hint="names start with a letter or digit and hold only letters, digits, '-' and '_' (at most 255)")
    return value


def workspace_id(subscription: str, resource_group: str, workspace: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{PROVIDER}/workspaces/{workspace}"


def build_id(subscription: str, resource_group: str, workspace: str, endpoint: str, deployment: str | None = None) -> str:
    """The canonical id of an endpoint (``deployment`` None) or a deployment."""
    for what, value in (("subscription", subscription), ("resource group", resource_group), ("workspace", workspace)):
        if not value or "/" in value or any(c.isspace() for c in value):
            raise UsageError(f"invalid {what} {value!r}", hint="names cannot be empty or contain '/' or spaces")
    out = workspace_id(subscription, resource_group, workspace) + "/onlineEndpoints/" + _check_name("endpoint name", endpoint)
    if deployment is not None:
        out += "/deployments/" + _check_name("deployment name", deployment)
    return out


def parse_target(text: str) -> dict[str, Any] | None:
    """The parts of an endpoint or deployment id (``deployment`` None for an endpoint) and its
    canonical ``id``; ``None`` when ``text`` is not a v2 workspace resource at all.

    :raises UsageError: a v2 workspace resource, but not an online endpoint or deployment.
    """
    candidate = text.strip()
    m = _TARGET_ID.match(candidate)
    if m:
        parts = m.groupdict()
        return {**parts, "id": build_id(parts["subscription"], parts["resource_group"], parts["workspace"],
                                        parts["endpoint"], parts["deployment"])}
    if _ANY_V2_ID.match(candidate):
        raise UsageError(f"not an online endpoint or deployment id: {candidate}", hint="give " + TARGET_HELP)
    return None


def endpoint_id(target_id: str) -> str:
    """The endpoint id of a deployment id (an endpoint id unchanged)."""
    head, sep, _ = target_id.partition("/deployments/")
    return head if sep else target_id


@dataclass(frozen=True)
class ModelRef:
    """A model version as the user named it.

    :param name: the model's name.
    :param version: its version, or ``None`` for ``@latest`` (resolved against the workspace).
    :param registry: the registry name of an ``azureml://registries/...`` reference.
    :param workspace: the workspace id of a full ARM id (``None``: the target's workspace).
    """

    name: str
    version: str | None
    registry: str | None = None
    workspace: str | None = None

    def asset_id(self, workspace: str | None = None) -> str:
        """What ``properties.model`` holds: the version's ARM id (in ``workspace`` unless the
        reference named its own), or the registry asset id."""
        if self.version is None:
            raise UsageError(f"model {self.name}@latest is not resolved yet", hint="resolve it against the workspace first")
        if self.registry:
            return f"azureml://registries/{self.registry}/models/{self.name}/versions/{self.version}"
        ws = self.workspace or workspace
        if not ws:
            raise UsageError(f"model {self.name}:{self.version} needs a workspace", hint="give the version's full ARM id")
        return f"{ws}/models/{self.name}/versions/{self.version}"

    @property
    def short(self) -> str:
        return f"{self.name}:{self.version if self.version is not None else 'latest'}"


def parse_model_ref(text: str) -> ModelRef:
    """A :class:`ModelRef` from any accepted form (module docstring).

    :raises UsageError: (exit 2) not a model version reference, e.g. a Studio ``.ilearner`` URL.
    """
    value = text.strip()
    m = _MODEL_ID.match(value)
    if m:
        parts = m.groupdict()
        return ModelRef(_check_name("model name", parts["name"]), parts["version"],
                        workspace=workspace_id(parts["subscription"], parts["resource_group"], parts["workspace"]))
    m = _REGISTRY_ID.match(value)
    if m:
        return ModelRef(_check_name("model name", m["name"]), m["version"], registry=m["registry"])
    if value.lower().startswith(("https://", "http://")) or value.lower().endswith(".ilearner"):
        raise UsageError(f"{value!r} is a Studio model location, not an Azure ML model version",
                         hint="register it first (amlws mlv2 models register --name N --uri URI), then give " + MODEL_HELP)
    body = value[len("azureml:"):] if value.lower().startswith("azureml:") and not value.lower().startswith("azureml://") else value
    if "@" in body:
        name, _, label = body.partition("@")
        if label != "latest":
            raise UsageError(f"unknown model label {label!r} in {value!r}", hint="the label is latest: NAME@latest")
        return ModelRef(_check_name("model name", name), None)
    name, sep, version = body.partition(":")
    if not sep or not version or ":" in version:
        raise UsageError(f"not a model version reference: {value!r}", hint="give " + MODEL_HELP)
    return ModelRef(_check_name("model name", name), _check_name("model version", version))
