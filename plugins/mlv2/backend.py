"""Azure ML v2 operations as library functions: what the hooks and the ``amlws mlv2`` commands call.

Targets are online endpoints and deployments (:mod:`.ids`); a definition is the resource as
``GET`` returns it. Every remote change goes through the one change path
(:mod:`amlws.safety.change`): an update through ``change.update`` (the host calls
:func:`update`), a traffic change, a removal and a model registration through ``change.apply``.
Checks that the service would fail on, or worse accept, come before anything is sent: a
create-only field changed, a deployment of another endpoint, a model version that does not
exist, traffic that breaks the rules (REFERENCE.md §6).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from amlws.errors import ConflictError, NotFoundError, OperationFailed, UsageError
from amlws.model import Definition, Target, UpdateResult

from . import definition as defs
from .ids import MODEL_HELP, ModelRef, build_id, endpoint_id, parse_model_ref, parse_target, workspace_id

log = logging.getLogger("amlws.mlv2")

BACKEND = "mlv2"

#: Real deployments take 5-20 minutes (REFERENCE.md §4): wait this long unless ``--timeout``/``mlv2_timeout``.
DEFAULT_TIMEOUT = 1800.0


# --- targets ------------------------------------------------------------------------------------


def make_target(text: str) -> Target | None:
    """The :class:`Target` of an endpoint or deployment id (``parts``: ``subscription``,
    ``resource_group``, ``workspace``, ``endpoint``, ``deployment`` (None for an endpoint), ``kind``)."""
    parts = parse_target(text)
    if parts is None:
        return None
    target_id = parts.pop("id")
    parts["kind"] = "deployment" if parts.get("deployment") else "endpoint"
    return Target(BACKEND, target_id, parts)


def subscription_of(settings: Any, explicit: str | None = None) -> str:
    sub = explicit or settings.get("subscription", env_aliases=("AZURE_SUBSCRIPTION_ID",))
    if not sub:
        raise UsageError("no Azure subscription given",
                         hint="pass --subscription, set AZURE_SUBSCRIPTION_ID, or: amlws config set subscription SUB_ID")
    return str(sub)


def target_from_options(options: dict[str, Any], settings: Any) -> str | None:
    """``-g RG -w WS -e EP [-d DEP] [--subscription S]`` -> the endpoint or deployment id.

    ``None`` unless ``--endpoint`` and ``--workspace`` are given without the classic ``--service``
    or the ARM ``--name`` (those options name the other backends' targets: ``--workspace W
    --service S --endpoint E`` stays a classic endpoint). The resource group may come from the
    ``resource_group`` setting; the subscription from the option, the settings or ``AZURE_SUBSCRIPTION_ID``.
    """
    endpoint, workspace = options.get("endpoint"), options.get("workspace")
    if not endpoint or not workspace or options.get("service") or options.get("name"):
        if options.get("deployment") and not options.get("service"):
            raise UsageError("-d/--deployment needs -g RG -w WORKSPACE -e ENDPOINT", hint="name the deployment's endpoint too")
        return None
    rg = options.get("resource_group") or settings.get("resource_group")
    if not rg:
        raise UsageError("an Azure ML v2 endpoint needs its resource group",
                         hint="pass -g RESOURCE_GROUP, or: amlws config set resource_group RG")
    return build_id(subscription_of(settings, options.get("subscription")), str(rg), str(workspace), str(endpoint),
                    options.get("deployment") or None)


def model_target(workspace: str, name: str, version: str) -> Target:
    """A model version as the target of a change (``models register``: history keys it by its id)."""
    return Target(BACKEND, f"{workspace}/models/{name}/versions/{version}", {"kind": "model", "name": name, "version": version})


def workspace_of(target: Target) -> str:
    p = target.parts
    if not p.get("workspace"):
        parsed = parse_target(target.id) or {}
        p = {**parsed, **{k: v for k, v in p.items() if v}}
    return workspace_id(p["subscription"], p["resource_group"], p["workspace"])


def kind_of_target(target: Target) -> str:
    return str(target.parts.get("kind") or ("deployment" if "/deployments/" in target.id.lower() else "endpoint"))


def client(settings: Any, target: Target | None = None, *, subscription: str | None = None, **kwargs: Any) -> Any:
    """A :class:`.client.V2Client` for ``target``'s subscription, waiting :data:`DEFAULT_TIMEOUT` for
    operations unless ``--timeout`` (or ``mlv2_timeout``) says otherwise."""
    from .client import V2Client

    sub = subscription or (target.parts.get("subscription") if target is not None else None)
    c = V2Client(settings, subscription=sub, **kwargs)
    c.timeout = settings.timeout(float(settings.get("mlv2_timeout") or DEFAULT_TIMEOUT))
    return c


# --- the five steps -----------------------------------------------------------------------------


def get_definition(target: Target, settings: Any) -> Definition:
    """``GET`` the deployment (or endpoint) -> :class:`Definition` (the raw resource)."""
    with client(settings, target) as c:
        document = c.get_deployment(target.id) if kind_of_target(target) == "deployment" else c.get_endpoint(target.id)
    return Definition(BACKEND, document, target)


def import_document(document: Any, source: str) -> Definition | None:
    """A v2 deployment or endpoint document, checked (:func:`.definition.check_document`); ``None``
    for another backend's format."""
    if defs.kind_of(document) is None:
        return None
    defs.check_document(document, source)
    return Definition(BACKEND, document)


def _workspace_for(definition: Definition, ref: ModelRef) -> str | None:
    """The workspace a short model reference lives in: the reference's own, the target's, or the
    one of the model the definition names now (a deployment's model is a version id in its workspace)."""
    if ref.workspace:
        return ref.workspace
    if definition.target is not None:
        return workspace_of(definition.target)
    current = defs.model_of(definition.document)
    if current:
        try:
            return parse_model_ref(current).workspace
        except UsageError:
            return None
    return None


def patch_model(definition: Definition, model: str, settings: Any) -> Definition:
    """``patch-model``: ``properties.model`` = the version's full id. Local, except ``NAME@latest``:
    one ``GET`` of the model container in the definition's workspace resolves it.

    :raises UsageError: (exit 2) not a model version (a Studio ``.ilearner`` URL...), an endpoint
        definition, or a short reference with no workspace to put it in.
    """
    ref = parse_model_ref(model)
    if ref.registry is None:
        workspace = _workspace_for(definition, ref)
        if workspace is None:
            raise UsageError(f"cannot tell which workspace {model!r} is in: the definition names no model yet",
                             hint="give the version's full ARM id (…/workspaces/WS/models/NAME/versions/V)")
        if ref.version is None:
            sub = parse_target(workspace + "/onlineEndpoints/x")
            with client(settings, subscription=sub["subscription"] if sub else None) as c:
                ref = c.resolve_model(ref, workspace)
    else:
        workspace = None
    document = defs.patch_model(definition.document, ref, workspace or "")
    return Definition(BACKEND, document, definition.target)


def refuse_ilearner(location: Any) -> Definition:
    """``patch-ilearner`` on a v2 definition: a Studio ``.ilearner`` is not an Azure ML model (exit 2)."""
    raise UsageError(f"{location.blob_url} is a Studio model location, not an Azure ML model version",
                     hint="register it first (amlws mlv2 models register --name N --uri URI), then amlws patch-model FILE "
                          "--model " + MODEL_HELP.split(",")[0])


def model_references(document: dict[str, Any]) -> list[dict[str, str]]:
    model = defs.model_of(document)
    if not model:
        return []
    try:
        ref = parse_model_ref(model)
        name = ref.short
    except UsageError:
        name = model
    return [{"name": name, "selector": "model", "uri": model}]


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """What ``amlws get -o table`` shows of a deployment or an endpoint."""
    props = document.get("properties") or {}
    out: dict[str, Any] = {"name": document.get("name"), "kind": defs.kind_of(document), "location": document.get("location"),
                           "provisioningState": props.get("provisioningState")}
    if defs.kind_of(document) == "deployment":
        out.update({"model": props.get("model"), "instanceType": props.get("instanceType"),
                    "instanceCount": (document.get("sku") or {}).get("capacity")})
    else:
        out.update({"authMode": props.get("authMode"), "scoringUri": props.get("scoringUri"),
                    "traffic": _shares_text(defs.shares_of(document)),
                    "mirrorTraffic": _shares_text(defs.shares_of(document, "mirrorTraffic")) or None})
    return out


def _shares_text(shares: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(shares.items()))


def service_difference(document: dict[str, Any], live: dict[str, Any]) -> str:
    """``""`` when ``document`` may be sent to the live resource, else what differs (kind, or the
    ``id``/``name`` a file saved from ``amlws get -o json`` still holds)."""
    if defs.kind_of(document) != defs.kind_of(live):
        return f"a {defs.kind_of(document)} definition for the live {defs.kind_of(live)}"
    named = document.get("id")
    if named and live.get("id") and str(named).lower() != str(live["id"]).lower():
        return f"it is {named}"
    return ""


# --- update -----------------------------------------------------------------------------------------


def _url(settings: Any, resource_id: str) -> str:
    from amlws.azure.credentials import arm_endpoint

    from .client import api_version_of

    return f"{arm_endpoint(settings)}{resource_id}?api-version={api_version_of(settings)}"


def request_body(document: dict[str, Any]) -> dict[str, Any]:
    """What a PUT sends: the document without read-only fields (a ``get -o json`` file imports too)."""
    rtype = defs.DEPLOYMENT_TYPE if defs.kind_of(document) == "deployment" else defs.ENDPOINT_TYPE
    return defs.export_document({**document, "type": document.get("type") or rtype})


def check_definition(target: Target, definition: Definition) -> None:
    """The local checks of an update, before any request: the definition is of the target's kind and,
    when it names its resource (``id``), of this very deployment (exit 2)."""
    kind = defs.kind_of(definition.document)
    want = kind_of_target(target)
    if kind != want:
        raise UsageError(f"the definition is an online {kind} but {target.id} is an online {want}",
                         hint=f"export the {want} (amlws export {target.id} --output-file FILE) and patch that")
    named = definition.document.get("id")
    if named and str(named).rstrip("/").lower() != target.id.lower():
        other = "another endpoint's deployment" if not defs.same_endpoint(str(named), target.id) else "another deployment"
        raise UsageError(f"the definition is {other} ({named}), not {target.id}",
                         hint=f"export this deployment (amlws export {target.id} --output-file FILE) and patch that")
    name = definition.document.get("name")
    if name and kind == "deployment" and str(name).lower() != str(target.parts.get("deployment") or "").lower():
        raise UsageError(f"the definition is the deployment {name!r}, not {target.parts.get('deployment')!r} of {target.id}",
                         hint=f"export this deployment (amlws export {target.id} --output-file FILE) and patch that")


def plan_update(target: Target, definition: Definition, settings: Any, *, live: Definition | None = None) -> list[dict[str, Any]]:
    """The requests :func:`update` sends: GET (live), GET the model version, PUT, polls, GET."""
    check_definition(target, definition)
    if live is not None:
        check_create_only(target, definition, live.document)
    url = _url(settings, target.id)
    body = defs.keep_live_properties(request_body(definition.document), live.document if live is not None else None)
    plan: list[dict[str, Any]] = [{"method": "GET", "url": url, "purpose": "read the live resource (saved to history)"}]
    model = defs.model_of(body) if kind_of_target(target) == "deployment" else None
    if model and model.startswith("/"):
        plan.append({"method": "GET", "url": _url(settings, model), "purpose": "check that the model version exists"})
    if kind_of_target(target) == "endpoint":
        from .rollout import recreations

        plan += [{"method": "PUT", "url": _url(settings, dep_id), "body": dep_body,
                  "purpose": "re-create the deployment a rollout removed (from history), if it does not exist"}
                 for dep_id, dep_body in recreations(body, target.id)]
    plan += [
        {"method": "PUT", "url": url, "body": body},
        {"method": "GET", "url": "<Azure-AsyncOperation URL of the PUT response>", "purpose": "poll until Succeeded, Failed or Canceled"},
        {"method": "GET", "url": url, "purpose": "read back; verify the model and provisioningState Succeeded"},
    ]
    return plan


def check_create_only(target: Target, definition: Definition, live: dict[str, Any]) -> None:
    changed = defs.create_only_changes(live, request_body(definition.document))
    if changed:
        raise UsageError(f"{target.id}: {', '.join(changed)} cannot be changed on an existing {kind_of_target(target)} "
                         "(create-only); nothing was sent",
                         hint="keep the live value, or create a new deployment with it and shift traffic (amlws rollout)")


def check_model_version(c: Any, target: Target, model: str | None) -> None:
    """``GET`` the model version the definition names (a workspace version: a registry asset is left
    to the service): :class:`NotFoundError` (exit 3) when it does not exist; nothing is sent."""
    if not model or not model.startswith("/"):
        return
    try:
        c.get_model_version(model)
    except NotFoundError:
        ref = parse_model_ref(model)
        raise NotFoundError(f"model version {ref.short} does not exist ({model}); nothing was sent",
                            hint="register it (amlws mlv2 models register) or pick one from amlws mlv2 models get "
                                 f"{ref.name}") from None


def update(target: Target, definition: Definition, settings: Any, *, live: Definition | None = None) -> UpdateResult:
    """GET (unless the host passed ``live``), GET the model version, PUT the whole resource, poll its
    ``Azure-AsyncOperation`` to a terminal state, GET; verify the model and ``provisioningState``.

    :raises UsageError: (exit 2, nothing sent) another kind or another deployment, a create-only change.
    :raises NotFoundError: (exit 3, nothing sent) the model version does not exist.
    :raises OperationFailed: (exit 1) the operation or the read-back says Failed/Canceled.
    """
    check_definition(target, definition)
    body = request_body(definition.document)
    deployment = kind_of_target(target) == "deployment"
    with client(settings, target) as c:
        current = live.document if live is not None else (c.get_deployment(target.id) if deployment else c.get_endpoint(target.id))
        check_create_only(target, definition, current)
        body = defs.keep_live_properties(body, current)
        if deployment:
            check_model_version(c, target, defs.model_of(body))
            final = c.put_deployment(target.id, body)
        else:
            defs.check_traffic(body.get("properties") or {}, None, target.id)
            from .rollout import recreate, recreations  # a rollback after a rollout re-creates what it deleted

            recreate(c, recreations(body, target.id, lambda: {str(d.get("name")) for d in c.list_deployments(target.id)}))
            final = c.put_endpoint(target.id, body)
        requests = len(c.wire) + (1 if live is not None else 0)
    return verify(target, body, final, requests)


def verify(target: Target, body: dict[str, Any], final: dict[str, Any], requests: int) -> UpdateResult:
    """The read-back's ``provisioningState`` must be ``Succeeded`` and it must hold what was sent (the
    model of a deployment; the traffic of an endpoint)."""
    props = (final or {}).get("properties") or {}
    state = props.get("provisioningState")
    if state and state != "Succeeded":
        raise OperationFailed(f"{target.id}: the service reports provisioningState {state} after the update",
                              hint="amlws mlv2 deployments logs shows why; amlws rollback restores the previous definition")
    details: dict[str, Any] = {"provisioningState": state}
    if defs.kind_of(body) == "deployment":
        sent, now = defs.model_of(body), defs.model_of(final)
        match = bool(sent) and str(sent).lower() == str(now or "").lower()
        details["model"] = {"sent": sent, "live": now, "match": match}
        verification = (f"the deployment serves {now} (provisioningState {state})" if match
                        else f"the service reports model {now}, not the {sent} that was sent")
        model_uri = sent
    else:
        wanted = {k: v for k, v in ((body.get("properties") or {}).get("traffic") or {}).items() if v}
        match = defs.shares_of(final) == wanted
        details["traffic"] = {"sent": wanted, "live": defs.shares_of(final), "match": match}
        verification = (f"the endpoint splits traffic {_shares_text(wanted) or 'nowhere'} (provisioningState {state})" if match
                        else f"the endpoint reports traffic {_shares_text(defs.shares_of(final))}, not {_shares_text(wanted)}")
        model_uri = None
    return UpdateResult(target, Definition(BACKEND, final, target), match and state == "Succeeded", model_uri, requests, details,
                        verification=verification)


# --- traffic --------------------------------------------------------------------------------------


@dataclass
class TrafficChange:
    """A traffic change read and checked, not sent yet (:func:`prepare_traffic`, then :func:`set_traffic`).

    :param target: the endpoint.
    :param live: the endpoint as just read.
    :param body: the endpoint PUT body with the new split.
    :param deployments: the endpoint's deployment names.
    :param requests: the planned requests (``--what-if``).
    """

    target: Target
    live: dict[str, Any]
    body: dict[str, Any]
    deployments: list[str]
    requests: list[dict[str, Any]] = field(default_factory=list)

    def diff(self) -> dict[str, Any]:
        """The split before and after: ``{"traffic": {"from", "to"}, "mirrorTraffic": {"from", "to"}}``."""
        return {f: {"from": defs.shares_of(self.live, f), "to": defs.shares_of(self.body, f)} for f in ("traffic", "mirrorTraffic")}

    def plan(self) -> dict[str, Any]:
        from amlws.api import redact_request

        return {"whatIf": True, "target": self.target.id, "requests": [redact_request(r) for r in self.requests], **self.diff()}


def endpoint_target(target: Target) -> Target:
    """The endpoint of a deployment target (an endpoint target unchanged)."""
    if kind_of_target(target) == "endpoint":
        return target
    made = make_target(endpoint_id(target.id))
    assert made is not None
    return made


def prepare_traffic(settings: Any, target: Target, traffic: dict[str, int] | None, mirror: dict[str, int] | None = None,
                    *, c: Any = None) -> TrafficChange:
    """GET the endpoint, list its deployments, build the body with the new split and check it
    (:func:`.definition.check_traffic`: exit 2, nothing sent). ``traffic``/``mirror`` ``None``: keep the live one.

    :param c: an open :class:`.client.V2Client` to use (a rollout reads the traffic just before each PUT).
    """
    target = endpoint_target(target)
    if c is None:
        with client(settings, target) as own:
            return prepare_traffic(settings, target, traffic, mirror, c=own)
    live = c.get_endpoint(target.id)
    names = sorted(str(d.get("name")) for d in c.list_deployments(target.id))
    body = defs.with_traffic(live, traffic, mirror)
    defs.check_traffic(body["properties"], set(names), target.id)
    url = _url(settings, target.id)
    requests: list[dict[str, Any]] = [
        {"method": "GET", "url": url, "purpose": "read the endpoint (saved to history)"},
        {"method": "GET", "url": _url(settings, target.id + "/deployments"), "purpose": "list the deployments (traffic rules)"},
        {"method": "PUT", "url": url, "body": body},
        {"method": "GET", "url": "<Azure-AsyncOperation URL of the PUT response>", "purpose": "poll until Succeeded, Failed or Canceled"},
        {"method": "GET", "url": url, "purpose": "read back; verify the split"},
    ]
    return TrafficChange(target, live, body, names, requests)


def set_traffic(host: Any, prepared: TrafficChange, *, action: str = "traffic", note: str | None = None) -> UpdateResult:
    """PUT the endpoint with the prepared split through the change path (veto, history, verify, record,
    notify; ``action`` ``traffic`` unless a caller names its own), poll, verify the split."""
    from amlws.safety.change import Change, Sent, apply

    target = prepared.target
    change = Change(target, action, Definition(BACKEND, prepared.body, target), prepared.live, prepared.requests, note=note)

    def send() -> Sent:
        with client(host.settings, target) as c:
            final = c.put_endpoint(target.id, prepared.body)
            result = verify(target, prepared.body, final, len(c.wire))
        if not result.verified:
            raise OperationFailed(f"{target.id}: {result.verification}", hint="amlws get shows the endpoint; amlws rollback "
                                  "restores the split from before")
        result.details.update(prepared.diff())
        return Sent(result, {"verified": True, **prepared.diff()}, after=result.definition)

    return apply(host, change, send)


def traffic(host: Any, target: Target, traffic_shares: dict[str, int] | None, mirror: dict[str, int] | None = None) -> UpdateResult:
    """:func:`prepare_traffic` then :func:`set_traffic` (no confirmation: the CLI asks in between)."""
    return set_traffic(host, prepare_traffic(host.settings, target, traffic_shares, mirror))


# --- deployments, endpoints, models --------------------------------------------------------------


def remove_deployment(host: Any, target: Target) -> UpdateResult:
    """``Remove-AzMLWorkspaceOnlineDeployment``: refused (exit 5, nothing sent) while the deployment takes
    live or mirrored traffic; else GET (saved to history), DELETE, poll, through the change path (``remove``)."""
    from amlws.safety.change import Change, apply, sent

    if kind_of_target(target) != "deployment":
        raise UsageError(f"{target.id} is an endpoint, not a deployment", hint="name the deployment: -g RG -w WS -e EP -d DEP")
    with client(host.settings, target) as c:
        check_removable(host.settings, target, c=c)
        current = c.get_deployment(target.id)
        change = Change(target, "remove", None, current, plan_remove(host.settings, target))

        def delete() -> Any:
            c.delete_deployment(target.id)
            return sent(change, requests=len(c.wire), verification="the DELETE completed")

        return apply(host, change, delete)


def plan_remove(settings: Any, target: Target) -> list[dict[str, Any]]:
    url = _url(settings, target.id)
    return [{"method": "GET", "url": _url(settings, endpoint_id(target.id)), "purpose": "refuse while it takes traffic"},
            {"method": "GET", "url": url, "purpose": "save the deployment to history"},
            {"method": "DELETE", "url": url},
            {"method": "GET", "url": "<Azure-AsyncOperation or Location URL of the DELETE response>", "purpose": "poll until done"}]


def model_body(uri: str, *, model_type: str | None = None, description: str | None = None) -> dict[str, Any]:
    """The ``ModelVersion`` PUT body (REFERENCE.md §8): ``modelUri`` and, when given, ``modelType``/``description``."""
    props: dict[str, Any] = {"modelUri": uri}
    if model_type:
        props["modelType"] = model_type
    if description:
        props["description"] = description
    return {"properties": props}


def check_model_uri(uri: str) -> None:
    """A model is registered from its files (``azureml://``, ``https://``, ``runs:/``...), never from a
    Studio ``.ilearner`` (exit 2: a v2 deployment cannot serve one)."""
    if not uri or not uri.strip():
        raise UsageError("--uri is required", hint="the model's files, e.g. azureml://datastores/workspaceblobstore/paths/models/m/")
    if uri.split("?")[0].lower().endswith(".ilearner"):
        raise UsageError(f"{uri.split('?')[0]} is a Studio .ilearner: an Azure ML online deployment cannot serve it",
                         hint="register the files of an MLflow or custom model (a folder with MLmodel)")


def plan_register(settings: Any, workspace: str, name: str, version: str | None, body: dict[str, Any]) -> list[dict[str, Any]]:
    plan: list[dict[str, Any]] = []
    if version is None:
        plan.append({"method": "GET", "url": _url(settings, f"{workspace}/models/{name}"), "purpose": "read nextVersion"})
    url = _url(settings, f"{workspace}/models/{name}/versions/{version or '<nextVersion>'}")
    plan.append({"method": "GET", "url": url, "purpose": "refuse to overwrite an existing version"})
    plan.append({"method": "PUT", "url": url, "body": body})
    return plan


def register_model(host: Any, workspace: str, name: str, uri: str, *, version: str | None = None,
                   model_type: str | None = None, description: str | None = None) -> UpdateResult:
    """``New-AzMLWorkspaceModelVersion`` / ``az ml model create``: PUT a version (the container's
    ``nextVersion`` when ``version`` is None), through the change path (action ``register``).

    :raises ConflictError: (exit 5) the version exists already (a PUT would overwrite it).
    """
    from amlws.safety.change import Change, apply, sent

    from .ids import _check_name

    check_model_uri(uri)
    _check_name("model name", name)
    if version is not None:
        _check_name("model version", version)
    body = model_body(uri, model_type=model_type, description=description)
    sub = (parse_target(workspace + "/onlineEndpoints/x") or {}).get("subscription")
    with client(host.settings, subscription=sub) as c:
        chosen = version or c.next_version(workspace, name)
        target = model_target(workspace, name, chosen)
        try:
            existing = c.get_model_version(target.id)
        except NotFoundError:
            existing = None
        if existing is not None:
            raise ConflictError(f"model {name} version {chosen} exists already; nothing was registered",
                                hint="leave out --version to take the next one, or pick another version")
        change = Change(target, "register", Definition(BACKEND, body, target), None, plan_register(host.settings, workspace, name,
                                                                                                  version, body),
                        note=f"register {name}:{chosen}")

        def put() -> Any:
            created = c.put_model_version(workspace, name, chosen, body)
            return sent(change, Definition(BACKEND, created, target), outcome={"model": f"{name}:{chosen}", "id": target.id},
                        verified=bool(created.get("id")), requests=len(c.wire),
                        verification=f"registered {name}:{chosen}")

        return apply(host, change, put)


def workspace_from(settings: Any, resource_group: str | None, workspace: str | None, subscription: str | None = None) -> str:
    """The workspace id of ``-g RG -w WS [--subscription S]`` (resource group: the option or the setting)."""
    rg = resource_group or settings.get("resource_group")
    if not rg or not workspace:
        raise UsageError("name the workspace: -g RESOURCE_GROUP -w WORKSPACE", hint="or: amlws config set resource_group RG")
    build_id(subscription_of(settings, subscription), str(rg), str(workspace), "x")  # the same checks as a target's
    return workspace_id(subscription_of(settings, subscription), str(rg), str(workspace))


def check_removable(settings: Any, target: Target, *, c: Any = None) -> dict[str, Any]:
    """The endpoint of ``target`` (one GET); :class:`ConflictError` (exit 5) while the deployment takes
    live or mirrored traffic."""
    if c is None:
        with client(settings, target) as own:
            return check_removable(settings, target, c=own)
    name = str(target.parts["deployment"])
    endpoint = c.get_endpoint(target.id)
    taking = {f: v for f in ("traffic", "mirrorTraffic") if (v := defs.shares_of(endpoint, f).get(name))}
    if taking:
        what = " and ".join(f"{v} % {'live' if f == 'traffic' else 'mirrored'}" for f, v in taking.items())
        raise ConflictError(f"deployment {name} takes {what} traffic of {endpoint_id(target.id)}; nothing was removed",
                            hint=f"move its traffic first (amlws mlv2 traffic {endpoint_id(target.id)} OTHER=100)")
    return endpoint


def endpoint_row(item: dict[str, Any]) -> dict[str, Any]:
    props = item.get("properties") or {}
    return {"name": item.get("name"), "authMode": props.get("authMode"), "provisioningState": props.get("provisioningState"),
            "traffic": _shares_text(defs.shares_of(item)), "id": item.get("id")}


def deployment_row(item: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
    props = item.get("properties") or {}
    name = str(item.get("name"))
    return {"name": name, "traffic": defs.shares_of(endpoint).get(name, 0),
            "mirrorTraffic": defs.shares_of(endpoint, "mirrorTraffic").get(name, 0), "model": props.get("model"),
            "instanceType": props.get("instanceType"), "provisioningState": props.get("provisioningState")}


def model_row(item: dict[str, Any]) -> dict[str, Any]:
    props = item.get("properties") or {}
    return {"name": item.get("name"), "latestVersion": props.get("latestVersion"), "nextVersion": props.get("nextVersion"),
            "id": item.get("id")}


def version_row(item: dict[str, Any]) -> dict[str, Any]:
    props = item.get("properties") or {}
    return {"version": item.get("name"), "modelType": props.get("modelType"), "modelUri": props.get("modelUri"), "id": item.get("id")}


def get_model(settings: Any, workspace: str, name: str, version: str | None = None) -> Any:
    """Every version of model ``name`` (a list), or one version (``--version``, ``NAME:VERSION``, ``NAME@latest``)."""
    ref = parse_model_ref(name) if (":" in name or "@" in name) else ModelRef(name, version)
    ws = ref.workspace or workspace
    sub = ws.split("/")[2]
    with client(settings, subscription=sub) as c:
        if ref.version is None and version is None and "@" not in name:
            return c.list_model_versions(ws, ref.name)
        ref = c.resolve_model(ref, ws)
        return c.get_model_version(ref.asset_id(ws))


def plan_register_model(settings: Any, workspace: str, name: str, uri: str, *, version: str | None = None,
                        model_type: str | None = None, description: str | None = None) -> dict[str, Any]:
    """What ``models register --what-if`` prints: the requests, the body; nothing is sent."""
    from amlws.api import redact_request

    check_model_uri(uri)
    body = model_body(uri, model_type=model_type, description=description)
    return {"whatIf": True, "target": f"{workspace}/models/{name}",
            "requests": [redact_request(r) for r in plan_register(settings, workspace, name, version, body)]}
