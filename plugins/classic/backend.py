"""The classic implementations of the five backend steps (get, export, import, patch, update).

The definition document is the endpoint object as the management API returns it
(PascalCase, REFERENCE §3.5), unknown fields kept. The trained model lives in
``Resources[].Location`` ``{BaseLocation, RelativeLocation, SasBlobToken}``.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from amlws.errors import ConflictError, UsageError
from amlws.model import Definition, ModelLocation, Target, UpdateResult
from amlws.redact import register_secret

from . import azuremlps
from .targets import BACKEND, ClassicRef, check_id, management_base_url, normalise_base, parse_url

log = logging.getLogger("amlws.classic")

ENDPOINT_FIELDS = (
    "Name", "Description", "CreationTime", "WorkspaceId", "WebServiceId", "HelpLocation", "PrimaryKey",
    "SecondaryKey", "ApiLocation", "Version", "MaxConcurrentCalls", "DiagnosticsTraceLevel", "ThrottleLevel",
    "PreventUpdate", "SampleDataEnabled", "ExperimentLocation", "Resources",
)
RESOURCE_FIELDS = ("Name", "Kind", "Location")
LOCATION_FIELDS = ("BaseLocation", "RelativeLocation", "SasBlobToken", "ConnectionString")
KEY_FIELDS = ("PrimaryKey", "SecondaryKey")
#: Keys that mark a document as a classic endpoint (compared case-insensitively).
MARKER_FIELDS = frozenset({"resources", "apilocation", "webserviceid", "helplocation"})

DEFAULT_ENDPOINT_NAME = "default"


# --- settings, clients, targets ---------------------------------------------------------


def base_url(settings: Any, location: str | None = None) -> str:
    """Management base URL: ``classic_endpoint`` if set, else the location's regional host."""
    override = settings.get("classic_endpoint") if settings is not None else None
    if override:
        return normalise_base(override)
    loc = azuremlps.value(settings, "location", location)
    if not loc:
        from .targets import REGIONS

        raise UsageError(
            "no classic location configured",
            hint="pass --location (one of: " + ", ".join(f"'{r}'" for r in REGIONS) + "), set AMLWS_LOCATION, or import an AzureMLPS config.json",
        )
    return management_base_url(loc)


def ref_from(
    settings: Any,
    url: str | None = None,
    *,
    workspace: str | None = None,
    service: str | None = None,
    endpoint: str | None = None,
    location: str | None = None,
    need_service: bool = True,
) -> ClassicRef:
    """A :class:`ClassicRef` from a management URL or from options (+ settings, config.json)."""
    if url:
        ref = parse_url(url, settings.get("classic_endpoint") if settings is not None else None)
        if ref is None:
            raise UsageError(f"not a classic management URL: {url!r}", hint="it looks like https://management.azureml.net/workspaces/WS/webservices/SVC[/endpoints/NAME]")
        if endpoint:
            ref = ref.with_endpoint(endpoint)
        return ref
    ws = azuremlps.value(settings, "workspace", workspace)
    if not ws:
        raise UsageError("no classic workspace id given", hint="pass --workspace, set AMLWS_WORKSPACE, or import an AzureMLPS config.json (amlws classic config import)")
    if need_service and not service:
        raise UsageError("no web service id given", hint="pass --service ID (see amlws classic services list)")
    if endpoint and not service:
        raise UsageError("--endpoint needs --service", hint="pass the web service id with --service")
    return ClassicRef(base_url(settings, location), ws, service or "", endpoint)


def make_client(settings: Any, http: Any = None) -> Any:
    from .client import ManagementClient

    return ManagementClient(settings, azuremlps.token(settings), http=http)


def claim(target: str, settings: Any) -> Target | None:
    ref = parse_url(target, settings.get("classic_endpoint") if settings is not None else None)
    return ref.to_target() if ref else None


def target_from_options(options: dict[str, Any], settings: Any) -> str | None:
    service = options.get("service")
    endpoint = options.get("endpoint")
    if not service and not endpoint and not options.get("workspace"):
        return None
    if not service:
        raise UsageError("classic targets need --service (and --endpoint)", hint="pass --service ID --endpoint NAME")
    return ref_from(settings, workspace=options.get("workspace"), service=service, endpoint=endpoint,
                    location=options.get("location")).id


def endpoint_ref(target: Target) -> ClassicRef:
    ref = ClassicRef.from_target(target).validate()
    ref.endpoint_url  # noqa: B018 - raises a clear error for a web-service target
    return ref


def is_default_endpoint(name: str | None, default_name: str | None = None) -> bool:
    """Studio names the default endpoint ``default``; the web service's ``DefaultEndpointName`` wins when known."""
    if not name:
        return False
    return name.lower() == (default_name or DEFAULT_ENDPOINT_NAME).lower()


def refuse_default(ref: ClassicRef, action: str, default_name: str | None = None) -> None:
    if is_default_endpoint(ref.endpoint, default_name):
        raise UsageError(
            f"cannot {action} the default endpoint {ref.endpoint!r} of web service {ref.service}: "
            "it is kept in sync with the experiments",
            hint=("add a new endpoint (amlws classic endpoints add) and patch that one" if action == "patch"
                  else "the default endpoint already follows the predictive experiment: refresh a non-default endpoint"),
        )


# --- the document ------------------------------------------------------------------------


def _canon(d: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    lookup = {f.lower(): f for f in fields}
    out: dict[str, Any] = {}
    for k, v in d.items():
        canonical = lookup.get(str(k).lower(), k)
        # Two spellings of one key ("name" and "Name"): keep both rather than lose one.
        out[canonical if canonical == k or canonical not in d else k] = v
    return out


def normalise(document: dict[str, Any]) -> dict[str, Any]:
    """Canonical PascalCase for the known keys (the service's serializer is case-insensitive); others kept."""
    doc = _canon(copy.deepcopy(document), ENDPOINT_FIELDS)
    resources = doc.get("Resources")
    if isinstance(resources, list):
        fixed = []
        for r in resources:
            if isinstance(r, dict):
                r = _canon(r, RESOURCE_FIELDS)
                if isinstance(r.get("Location"), dict):
                    r["Location"] = _canon(r["Location"], LOCATION_FIELDS)
            fixed.append(r)
        doc["Resources"] = fixed
    return doc


def is_classic_document(document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    keys = {str(k).lower() for k in document}
    return bool(keys & MARKER_FIELDS) and "properties" not in keys


def validate(doc: dict[str, Any], source: str) -> None:
    resources = doc.get("Resources")
    if resources is not None and not isinstance(resources, list):
        raise UsageError(f"{source}: Resources must be a list", hint="export the endpoint again (amlws export URL)")
    for i, r in enumerate(resources or []):
        if not isinstance(r, dict):
            raise UsageError(f"{source}: Resources[{i}] must be an object with Name and Location",
                hint='export the definition (amlws export TARGET -f FILE) and patch that file')
        name = r.get("Name")
        if name is not None and not isinstance(name, str):
            raise UsageError(f"{source}: Resources[{i}].Name must be a string",
                hint='export the definition (amlws export TARGET -f FILE) and patch that file')
        loc = r.get("Location")
        if loc is None:
            continue
        if not isinstance(loc, dict):
            raise UsageError(f"{source}: Resources[{i}].Location must be an object with BaseLocation, RelativeLocation, SasBlobToken",
                hint='export the definition (amlws export TARGET -f FILE) and patch that file')
        for key in ("BaseLocation", "RelativeLocation", "SasBlobToken"):
            if loc.get(key) is not None and not isinstance(loc[key], str):
                raise UsageError(f"{source}: Resources[{i}].Location.{key} must be a string",
                    hint='export the definition (amlws export TARGET -f FILE) and patch that file')
    for key, what in (("WorkspaceId", "workspace"), ("WebServiceId", "web service")):
        value = doc.get(key)
        if value not in (None, ""):
            if not isinstance(value, str):
                raise UsageError(f"{source}: {key} must be a string",
                    hint='export the definition (amlws export TARGET -f FILE) and patch that file')
            try:
                check_id(value, what)
            except UsageError as exc:
                raise UsageError(f"{source}: {exc.message}", hint=exc.hint) from None
    if doc.get("Name") is not None and not isinstance(doc["Name"], str):
        raise UsageError(f"{source}: Name must be a string",
            hint='export the definition (amlws export TARGET -f FILE) and patch that file')


def patchable_names(doc: dict[str, Any]) -> list[str]:
    """Names of the updatable resources; ``{}`` or an empty name means "nothing patchable" (REFERENCE §3.5)."""
    names = []
    for r in doc.get("Resources") or []:
        if isinstance(r, dict):
            name = r.get("Name")
            if isinstance(name, str) and name.strip() and name.strip() != "{}":
                names.append(name)
    return names


def no_updatable_resources(label: str) -> UsageError:
    return UsageError(
        f"{label} has no updatable resources (its Resources list no trained model)",
        hint="patch a non-default endpoint of the predictive web service, not the training web service",
    )


def choose_resource(names: list[str], selector: str | None, label: str) -> str:
    if not names:
        raise no_updatable_resources(label)
    listing = ", ".join(repr(n) for n in names)
    if selector is not None and selector.strip() in ("", "{}"):
        raise UsageError(f"{selector!r} is not a resource name: an empty or {{}} name means nothing is patchable",
                         hint=f"pass --resource with one of: {listing}")
    if selector:
        if selector in names:
            return selector
        folded = [n for n in names if n.lower() == selector.lower()]
        if len(folded) == 1:
            return folded[0]
        raise UsageError(f"{label} has no resource named {selector!r}; it lists: {listing}",
                         hint="pass --resource with one of those names exactly")
    if len(names) > 1:
        raise UsageError(f"{label} lists several updatable resources: {listing}", hint="pass --resource NAME")
    return names[0]


def _location(loc: Any) -> dict[str, str]:
    loc = loc if isinstance(loc, dict) else {}
    return {k: str(loc.get(k) or "") for k in ("BaseLocation", "RelativeLocation", "SasBlobToken")}


def _model(loc: dict[str, str]) -> ModelLocation:
    return ModelLocation(loc["BaseLocation"], loc["RelativeLocation"], loc["SasBlobToken"])


def _label(doc: dict[str, Any], ref: ClassicRef | None = None) -> str:
    name = (ref.endpoint if ref else None) or doc.get("Name")
    return f"endpoint {name!r}" if name else "the endpoint"


# --- hooks ----------------------------------------------------------------------------------


def strip_keys(doc: Any) -> Any:
    """The endpoint without its API keys (``PrimaryKey``/``SecondaryKey``): what amlws shows by default."""
    if isinstance(doc, list):
        return [strip_keys(d) for d in doc]
    if not isinstance(doc, dict):
        return doc
    return {k: v for k, v in doc.items() if str(k).lower() not in ("primarykey", "secondarykey")}


def get_definition(target: Target, settings: Any, http: Any = None) -> Definition:
    """GET the endpoint. The keys are kept aside (``export --include-keys``), never in the document."""
    ref = endpoint_ref(target)
    with make_client(settings, http) as client:
        doc = client.get_endpoint(ref)
    doc = normalise(doc)
    keys = {k: v for k, v in doc.items() if k in KEY_FIELDS and v}
    for value in keys.values():
        register_secret(str(value))
    _stash(settings, "keys")[target.id] = keys
    return Definition(BACKEND, strip_keys(doc), target)


def _stash(settings: Any, name: str) -> dict[str, Any]:
    """This run's memory (``settings.invocation.memo``): the keys read with a definition, kept out of
    documents. It saves a request; no hook's result depends on whether it is filled."""
    invocation = getattr(settings, "invocation", None)
    if invocation is None:  # a settings object of an older amlws: no memory, one more GET
        return {}
    return invocation.memo(BACKEND).setdefault(name, {})


def export(definition: Definition, include_keys: bool = False, settings: Any = None) -> dict[str, Any]:
    """The endpoint JSON without ``PrimaryKey``/``SecondaryKey``, unless ``include_keys``."""
    doc = strip_keys(copy.deepcopy(definition.document))
    if include_keys:
        keys = _keys_of(definition.document)
        if definition.target is not None and settings is not None:
            keys.update(_stash(settings, "keys").get(definition.target.id) or {})
        doc.update(keys)
        return doc
    from amlws.redact import redact_obj

    # SAS signatures (SasBlobToken sig=***) masked; amlws update restores them from the live endpoint
    return redact_obj(doc)


def _keys_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if str(k).lower() in ("primarykey", "secondarykey")}


def import_document(document: Any, source: str) -> Definition | None:
    if not is_classic_document(document):
        return None
    doc = normalise(document)
    validate(doc, source)
    return Definition(BACKEND, doc)


def patch_ilearner(definition: Definition, location: ModelLocation, selector: str | None) -> Definition:
    location.check()
    doc = normalise(definition.document)
    name = choose_resource(patchable_names(doc), selector, _label(doc))
    for r in doc["Resources"]:
        if isinstance(r, dict) and r.get("Name") == name:
            loc = v if isinstance(v := r.get("Location"), dict) else {}
            loc.update(location.to_dict())
            r["Location"] = loc
            break
    return Definition(BACKEND, doc, definition.target)


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """``amlws_summarize``: the endpoint's scalar fields (name, description, throttle level...), keys left out."""
    from amlws.summary import scalar_fields

    return scalar_fields(strip_keys(document))


def model_references(definition: Definition) -> list[dict[str, str]]:
    """``amlws_model_reference``: each updatable resource's ``Location`` (base + relative + SAS)."""
    doc = normalise(definition.document)
    out = []
    for r in doc.get("Resources") or []:
        if isinstance(r, dict) and r.get("Name") in patchable_names(doc) and isinstance(r.get("Location"), dict):
            loc = _location(r["Location"])
            if loc["BaseLocation"] or loc["RelativeLocation"]:
                out.append({"name": r["Name"], "selector": r["Name"], "uri": _model(loc).uri})
    return out


def _same_id(a: str, b: str) -> bool:
    return a.replace("-", "").lower() == b.replace("-", "").lower()


def _wanted(ref: ClassicRef, doc: dict[str, Any], *, force: bool = False) -> dict[str, dict[str, str]]:
    svc = doc.get("WebServiceId")
    if not force and isinstance(svc, str) and svc and not _same_id(svc, ref.service):
        # Known from the target's URL alone: refused before anything is sent, even the first GET.
        raise ConflictError(
            f"the definition does not describe {ref.endpoint_url}: it is of web service {svc}, but the target is web service {ref.service}",
            hint="export the definition from an endpoint of the service you are updating, or pass --force to send it anyway",
        )
    wanted = {}
    for r in doc.get("Resources") or []:
        if isinstance(r, dict) and isinstance(r.get("Location"), dict):
            name = r.get("Name")
            if not isinstance(name, str) or name.strip() in ("", "{}"):
                raise no_updatable_resources(_label(doc, ref))
            wanted[name] = _location(r["Location"])
    if not wanted:
        raise UsageError("the definition has no Resources with a Location to send",
                         hint="run amlws patch-ilearner on the exported definition first")
    return wanted


def _changes(ref: ClassicRef, wanted: dict[str, dict[str, str]], live: dict[str, Any]) -> list[str]:
    live_names = patchable_names(live)
    if not live_names:
        raise no_updatable_resources(_label(live, ref))
    listing = ", ".join(repr(n) for n in live_names)
    for name in wanted:
        if name not in live_names:
            raise UsageError(f"endpoint {ref.endpoint!r} has no resource named {name!r}; it lists: {listing}",
                             hint="use the exact Resources[].Name from amlws get (patch-ilearner --resource NAME)")
    live_locs = {r.get("Name"): _location(r.get("Location")) for r in live.get("Resources") or [] if isinstance(r, dict)}
    changed = [n for n in wanted if wanted[n] != live_locs.get(n)]
    for n in changed:
        _model(wanted[n]).check()
    return changed


def patch_body(wanted: dict[str, dict[str, str]], names: list[str]) -> dict[str, Any]:
    """``{"Resources": [{"Name", "Location": {BaseLocation, RelativeLocation, SasBlobToken}}]}`` (REFERENCE §3.7)."""
    return {"Resources": [{"Name": n, "Location": dict(wanted[n])} for n in names]}


def service_difference(document: dict[str, Any], live: dict[str, Any]) -> str:
    """``""`` when ``document`` is of the live endpoint (its workspace, web service and endpoint name,
    where the document names them), else a one-line summary of what differs."""
    doc, cur = normalise(document), normalise(live)
    parts = []
    for key, what, same in (("WorkspaceId", "workspace", _same_id), ("WebServiceId", "web service", _same_id),
                            ("Name", "endpoint", lambda a, b: a.lower() == b.lower())):
        sent, current = doc.get(key), cur.get(key)
        if isinstance(sent, str) and sent and isinstance(current, str) and current and not same(sent, current):
            parts.append(f"{what} {sent!r} vs the live {current!r}")
    return "; ".join(parts)


def _force(settings: Any) -> bool:
    return bool((getattr(settings, "flags", None) or {}).get("force"))


def update(target: Target, definition: Definition, settings: Any, http: Any = None, *,
           live: Definition | None = None) -> UpdateResult:
    """GET the endpoint (resource names), PATCH only the changed resources, GET again to verify.

    :param live: the endpoint as the host has just read it (``amlws_update``'s ``live``): the
        first GET is not sent again.
    """
    ref = endpoint_ref(target)
    refuse_default(ref, "patch")
    doc = normalise(definition.document)
    validate(doc, "the definition")
    wanted = _wanted(ref, doc, force=_force(settings))
    with make_client(settings, http) as client:
        already = 1 if live is not None else 0
        live_doc = normalise(live.document) if live is not None else normalise(client.get_endpoint(ref))
        changed = _changes(ref, wanted, live_doc)
        if not changed:
            log.info("endpoint %s already references these models; nothing sent", ref.endpoint)
            first = wanted[next(iter(wanted))]
            return UpdateResult(target, Definition(BACKEND, strip_keys(live_doc), target), True, _model(first).blob_url,
                                client.request_count + already, {"changed": [], "message": "no change"}, changed=False,
                                verification="the endpoint already reports the model locations of the definition; nothing sent")
        body = patch_body(wanted, changed)
        client.patch_endpoint(ref, body)
        after = normalise(client.get_endpoint(ref))
        after_locs = {r.get("Name"): _location(r.get("Location")) for r in after.get("Resources") or [] if isinstance(r, dict)}
        wrong = [n for n in changed if n not in after_locs or _model(after_locs[n]).blob_url != _model(wanted[n]).blob_url]
        if wrong:
            log.warning("endpoint %s does not report the new model location yet", ref.endpoint)
        names = ", ".join(repr(n) for n in (wrong or changed))
        verification = (f"the endpoint does not report the model location that was sent ({names})" if wrong
                        else f"the endpoint reports the model location that was sent ({names})")
        return UpdateResult(
            target, Definition(BACKEND, strip_keys(after), target), not wrong, _model(wanted[changed[0]]).blob_url,
            client.request_count + already, {"changed": changed}, verification=verification,
        )


def plan_update(target: Target, definition: Definition, settings: Any, http: Any = None, *,
                live: Definition | None = None) -> list[dict[str, Any]]:
    """The requests :func:`update` would send; changes nothing.

    With ``live`` (the endpoint just read) only the changed resources are planned; without it nothing
    is read (every client-side check runs, and the plan lists every resource of the definition), so
    the host can validate before it reads. The plan depends on these arguments only.
    """
    ref = endpoint_ref(target)
    refuse_default(ref, "patch")
    doc = normalise(definition.document)
    validate(doc, "the definition")
    wanted = _wanted(ref, doc, force=_force(settings))
    if live is None:
        return [{"method": "GET", "url": ref.endpoint_url},
                {"method": "PATCH", "url": ref.endpoint_url, "body": patch_body(wanted, list(wanted)),
                 "purpose": "only the resources whose location differs from the live endpoint are sent"},
                {"method": "GET", "url": ref.endpoint_url}]
    live_doc = normalise(live.document)
    changed = _changes(ref, wanted, live_doc)
    reqs: list[dict[str, Any]] = [{"method": "GET", "url": ref.endpoint_url}]
    if changed:
        reqs.append({"method": "PATCH", "url": ref.endpoint_url, "body": patch_body(wanted, changed)})
        reqs.append({"method": "GET", "url": ref.endpoint_url})
    return reqs
