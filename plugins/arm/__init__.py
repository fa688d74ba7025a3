"""The ``arm`` backend: Azure ML Studio "new" web services (``Microsoft.MachineLearning/webServices``).

Replaces the Az.MachineLearning web-service cmdlets over the real wire format
(api-version 2017-01-01) through azure-mgmt-resource generic resources and azure-identity.

This module stays import-light (it is loaded on every ``amlws`` start): azure SDKs are
imported only inside the functions that talk to ARM (:mod:`.client`).
"""

from __future__ import annotations

from typing import Any

from amlws import hookimpl
from amlws.model import BackendInfo, TargetOption

NAME = "arm"


#: ``-g/-n/--subscription`` name a web service on every command with a target; ``get --region``
#: chooses whose regional credentials ``get`` returns (a command option, not part of the target).
TARGET_OPTIONS = (
    TargetOption("resource_group", ("--resource-group", "-g"), "ARM resource group (with --name)."),
    TargetOption("name", ("--name", "-n"), "ARM web service name (with --resource-group)."),
    TargetOption("subscription", ("--subscription",), "ARM subscription ID (AZURE_SUBSCRIPTION_ID)."),
    TargetOption("region", ("--region",), "ARM: region whose encrypted credentials to return.", commands=("get",)),
)


@hookimpl
def amlws_backend_info() -> BackendInfo:
    from .ids import TARGET_HELP

    return BackendInfo(
        name=NAME,
        description="Azure ML Studio ARM (new) web services, Microsoft.MachineLearning/webServices 2017-01-01",
        target_help=TARGET_HELP,
        command_group=NAME,
        target_options=TARGET_OPTIONS,
    )


@hookimpl
def amlws_settings() -> dict[str, Any]:
    return {
        "resource_group": "default ARM resource group",
        "poll_interval": "seconds between polls of an ARM long-running operation (default 1)",
    }


@hookimpl
def amlws_summarize(definition: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .definition import summary

    return summary(definition.document)


@hookimpl
def amlws_claim_target(target: str, settings: Any) -> Any:
    from .service import make_target

    return make_target(target)


@hookimpl
def amlws_target_from_options(options: dict[str, Any], settings: Any) -> Any:
    from .service import target_from_options

    return target_from_options(options, settings)


@hookimpl
def amlws_get_definition(target: Any, settings: Any) -> Any:
    if target.backend != NAME:
        return None
    from .service import get_definition

    return get_definition(target, settings, region=settings.invocation.options.get("region"))


@hookimpl
def amlws_export(definition: Any, settings: Any, include_keys: bool) -> Any:
    if definition.backend != NAME:
        return None
    from .definition import export_document

    document = export_document(definition.document, include_keys=include_keys)
    if include_keys:
        return document
    from amlws.redact import redact_obj

    # SAS signatures and other secrets masked (sig=***); amlws update restores them from the live service
    return redact_obj(document, in_place=True)  # export_document's output is new and shares nothing


@hookimpl
def amlws_import(document: Any, settings: Any, source: str) -> Any:
    from .service import import_document

    return import_document(document, source)


@hookimpl
def amlws_patch_ilearner(definition: Any, location: Any, settings: Any, selector: str | None) -> Any:
    if definition.backend != NAME:
        return None
    from .service import patch_ilearner

    return patch_ilearner(definition, location, selector)


@hookimpl
def amlws_check_same_service(definition: Any, live: Any, settings: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .definition import service_difference

    return service_difference(definition.document, live.document)


@hookimpl
def amlws_model_reference(definition: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .definition import model_references

    return model_references(definition.document)


@hookimpl
def amlws_update(target: Any, definition: Any, settings: Any, live: Any) -> Any:
    if target.backend != NAME:
        return None
    from .service import update

    return update(target, definition, settings, live=live)


@hookimpl
def amlws_plan_update(target: Any, definition: Any, settings: Any) -> Any:
    if target.backend != NAME:
        return None
    from .service import plan_update

    return plan_update(target, definition, settings)


@hookimpl
def amlws_service_endpoints(target: Any, settings: Any, include_key: bool, definition: Any) -> Any:
    if target.backend != NAME:
        return None
    from .service import service_endpoints

    return service_endpoints(target, settings, include_key=include_key, definition=definition)


@hookimpl
def amlws_register_commands(app: Any) -> None:
    from .commands import register

    register(app)
