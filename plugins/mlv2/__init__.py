"""The ``mlv2`` backend: Azure Machine Learning managed online endpoints and deployments
(``Microsoft.MachineLearningServices``, api-version 2025-12-01 unless ``mlv2_api_version``).

A backend designed after the host, through the same hooks as the Studio ones: a target is an
online deployment (the five steps: get, export, import, patch-model, update) or an endpoint
(get/export/update, ``amlws mlv2 traffic``). Its pure parts: :mod:`.ids` (targets and model
references), :mod:`.definition` (export, checks, the model patch, traffic rules), :mod:`.schema`
(request bodies against the official swagger); :mod:`.backend` the operations; :mod:`.client` the
wire; :mod:`.commands` ``amlws mlv2 ...``.

Import-light (loaded on every ``amlws`` start): hook bodies import the rest lazily.
"""

from __future__ import annotations

from typing import Any

from amlws import hookimpl
from amlws.model import BackendInfo, TargetOption

NAME = "mlv2"

#: The commands that take ``--api-version`` (a command option, not part of the target).
API_VERSION_COMMANDS = ("get", "export", "update", "rollback", "diff")

#: ``-g RG -w WS -e EP [-d DEP]`` name an endpoint or a deployment. ``--resource-group``/``--subscription``
#: are shared with the ARM backend, ``--workspace``/``--endpoint`` with the classic one (one CLI option
#: each; every backend reads the value its own way, see :func:`.backend.target_from_options`).
TARGET_OPTIONS = (
    TargetOption("resource_group", ("--resource-group", "-g"), "Azure ML v2: the workspace's resource group."),
    TargetOption("workspace", ("--workspace", "-w"), "Azure ML v2: workspace name."),
    TargetOption("endpoint", ("--endpoint", "-e"), "Azure ML v2: online endpoint name."),
    TargetOption("deployment", ("--deployment", "-d"), "Azure ML v2: online deployment name (with -g/-w/-e)."),
    TargetOption("subscription", ("--subscription",), "ARM subscription ID (AZURE_SUBSCRIPTION_ID)."),
    TargetOption("api_version", ("--api-version",), "Azure ML v2: api-version to send (default: setting mlv2_api_version, "
                 "else 2025-12-01).", commands=API_VERSION_COMMANDS),
)

SETTINGS: dict[str, Any] = {
    "mlv2_api_version": "api-version of Azure ML v2 (Microsoft.MachineLearningServices) calls (default 2025-12-01)",
    "mlv2_timeout": "seconds to wait for an Azure ML v2 endpoint or deployment operation (default 1800; --timeout wins)",
    "resource_group": "default resource group (ARM web services, Azure ML v2 workspaces)",
}


@hookimpl
def amlws_backend_info() -> BackendInfo:
    from .ids import TARGET_HELP

    return BackendInfo(
        name=NAME,
        description="Azure Machine Learning managed online endpoints and deployments, Microsoft.MachineLearningServices",
        target_help=TARGET_HELP,
        command_group=NAME,
        target_options=TARGET_OPTIONS,
    )


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
    from .backend import make_target

    return make_target(target)


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
    from .definition import export_document

    return export_document(definition.document)  # a v2 resource holds no keys (listKeys is separate)


@hookimpl
def amlws_import(document: Any, settings: Any, source: str) -> Any:
    from .backend import import_document

    return import_document(document, source)


@hookimpl
def amlws_patch_model(definition: Any, model: str, settings: Any, selector: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .backend import patch_model

    return patch_model(definition, model, settings)


@hookimpl
def amlws_patch_ilearner(definition: Any, location: Any, settings: Any, selector: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .backend import refuse_ilearner

    return refuse_ilearner(location)


@hookimpl
def amlws_model_reference(definition: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .backend import model_references

    return model_references(definition.document)


@hookimpl
def amlws_check_same_service(definition: Any, live: Any, settings: Any) -> Any:
    if definition.backend != NAME:
        return None
    from .backend import service_difference

    return service_difference(definition.document, live.document)


@hookimpl
def amlws_plan_update(target: Any, definition: Any, settings: Any, live: Any) -> Any:
    if target.backend != NAME:
        return None
    from .backend import plan_update

    return plan_update(target, definition, settings, live=live)


@hookimpl
def amlws_update(target: Any, definition: Any, settings: Any, live: Any) -> Any:
    if target.backend != NAME:
        return None
    from .backend import update

    return update(target, definition, settings, live=live)


@hookimpl
def amlws_register_commands(app: Any) -> None:
    from .commands import register
    from .rollout_hooks import register as register_rollout

    register(app)
    register_rollout(app)  # amlws rollout (blue/green), engineer H's module


# amlws invoke (an endpoint's scoringUri) and fleet rows naming an endpoint (a rollout)
# amlws retrain ENDPOINT|DEPLOYMENT --job-file|--from-job (job, metrics, gates, register, deploy)
from .retrain import amlws_retrain  # noqa: E402, F401
from .rollout_hooks import amlws_deploy_model, amlws_invoke  # noqa: E402, F401
