"""The classic backend: Azure ML Studio (classic) web services over the management API.

Targets are endpoint management URLs
(``https://{region.}management.azureml.net/workspaces/{ws}/webservices/{svc}/endpoints/{name}``)
or ``--workspace/--service/--endpoint`` with ``--location``. Adds ``amlws classic ...``.

Import-light: the hook bodies import the implementation modules (and ``requests``) lazily.
"""

from __future__ import annotations

from typing import Any

from amlws import hookimpl
from amlws.model import Setting

NAME = "classic"


@hookimpl
def amlws_backend_info() -> Any:
    from amlws.model import BackendInfo, TargetOption

    from .targets import TARGET_HELP

    options = (
        TargetOption("workspace", ("--workspace",), "Classic workspace ID."),
        TargetOption("service", ("--service",), "Classic web service ID."),
        TargetOption("endpoint", ("--endpoint",), "Classic endpoint name."),
        TargetOption("location", ("--location",), "Classic workspace region, e.g. 'South Central US'."),
    )
    return BackendInfo(NAME, "Azure ML Studio (classic) web services: management API, AzureMLPS parity", TARGET_HELP,
                       command_group=NAME, target_options=options)


#: the settings the classic backend reads (``amlws config set`` takes them; the token is a secret).
SETTINGS: dict[str, Any] = {
    "classic_endpoint": "classic management API base URL (overrides the region's host)",
    "workspace": "classic workspace ID (32 hex)",
    "workspace_token": Setting("classic workspace authorization token (secret)", secret=True),
    "location": "classic workspace region, e.g. 'South Central US'",
    "classic_config_file": "AzureMLPS config.json (WorkspaceId, AuthorizationToken, Location) for classic commands",
}


@hookimpl
def amlws_settings() -> dict[str, Any]:
    return SETTINGS


@hookimpl
def amlws_summarize(definition: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .backend import summary

    return summary(definition.document)


@hookimpl
def amlws_claim_target(target: str, settings: Any) -> Any:
    from .backend import claim

    return claim(target, settings)


@hookimpl
def amlws_target_from_options(options: dict[str, Any], settings: Any) -> Any:
    from .backend import target_from_options

    return target_from_options(options, settings)


@hookimpl
def amlws_get_definition(target: Any, settings: Any) -> Any:
    if target.backend != NAME:
        return None
    from .backend import get_definition

    return get_definition(target, settings)


@hookimpl
def amlws_export(definition: Any, settings: Any, include_keys: bool) -> Any:
    if definition.backend != NAME:
        return None
    from .backend import export

    return export(definition, include_keys=include_keys, settings=settings)


@hookimpl
def amlws_import(document: Any, settings: Any, source: str) -> Any:
    from .backend import import_document

    return import_document(document, source)


@hookimpl
def amlws_patch_ilearner(definition: Any, location: Any, settings: Any, selector: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .backend import patch_ilearner

    return patch_ilearner(definition, location, selector)


@hookimpl
def amlws_model_reference(definition: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .backend import model_references

    return model_references(definition)


@hookimpl
def amlws_check_same_service(definition: Any, live: Any, settings: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .backend import service_difference

    return service_difference(definition.document, live.document)


@hookimpl
def amlws_update(target: Any, definition: Any, settings: Any, live: Any) -> Any:
    if target.backend != NAME:
        return None
    from .backend import update

    return update(target, definition, settings, live=live)


@hookimpl
def amlws_plan_update(target: Any, definition: Any, settings: Any, live: Any) -> Any:
    if target.backend != NAME:
        return None
    from .backend import plan_update

    return plan_update(target, definition, settings, live=live)


@hookimpl
def amlws_ensure_target(target: Any, settings: Any, options: Any) -> Any:
    if target.backend != NAME:
        return None
    from .ops import ensure_endpoint

    return ensure_endpoint(target, settings, options or {})


@hookimpl
def amlws_service_endpoints(target: Any, settings: Any, include_key: bool, definition: Any) -> Any:
    if target.backend != NAME:
        return None
    from .ops import service_endpoints

    return service_endpoints(target, settings, include_key=include_key, definition=definition)


@hookimpl
def amlws_register_commands(app: Any) -> None:
    from .commands import register

    register(app)
