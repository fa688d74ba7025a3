"""Library functions behind ``amlws classic services|endpoints``: one per AzureMLPS cmdlet.

Each takes the invocation's settings (the mutating ones: the :class:`amlws.host.Host`, whose
observers the change path asks) and a :class:`~amlws.plugins.classic.targets.ClassicRef`,
checks every client-side rule *before* sending anything, and returns plain dicts. With
``what_if=True`` they return the requests they would send and send nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from amlws.errors import ConflictError, UsageError
from amlws.model import Definition
from amlws.safety.change import Change, apply, sent

from .backend import is_default_endpoint, make_client, normalise, refuse_default, strip_keys
from .client import refresh_body
from .targets import ClassicRef, check_endpoint_name

log = logging.getLogger("amlws.classic")

THROTTLE_LEVELS = ("Low", "High")
LOW_THROTTLE_WARNING = "When ThrottleLevel is set to Low, MaxConcurrentCalls is automatically set to the default value of 4."


def _read_endpoint(client: Any, ref: ClassicRef) -> dict[str, Any] | None:
    """The endpoint as history saves it (keys removed), or ``None`` when it does not exist."""
    from amlws.errors import NotFoundError, RemoteError

    try:
        return strip_keys(normalise(client.get_endpoint(ref)))
    except NotFoundError:
        return None
    except RemoteError as exc:
        if exc.status == 404:
            return None
        raise


def _plan(*reqs: tuple[str, str, Any]) -> dict[str, Any]:
    out = []
    for method, url, body in reqs:
        r: dict[str, Any] = {"method": method, "url": url}
        if body is not None:
            r["body"] = body
        out.append(r)
    return {"whatIf": True, "requests": out}


# --- web services (Get-/Remove-AmlWebService) ---------------------------------------------------


def list_services(settings: Any, ref: ClassicRef, *, http: Any = None) -> list[dict[str, Any]]:
    from .targets import check_id

    check_id(ref.workspace, "workspace")
    with make_client(settings, http) as client:
        return client.list_services(ref.base_url, ref.workspace)


def get_service(settings: Any, ref: ClassicRef, *, http: Any = None) -> dict[str, Any]:
    ref.validate()
    with make_client(settings, http) as client:
        return client.get_service(ref)


def _change(host: Any, ref: ClassicRef, action: str, live: dict[str, Any] | None, requests: list[dict[str, Any]],
            send: Any, *, sends: dict[str, Any] | None = None, note: str | None = None) -> Any:
    """``send()`` through the change path (observers, history before and after): ``sends`` is the
    document the change sends, if any (observers are otherwise shown ``live``); ``send`` returns the
    history outcome (a ``dict``), or ``None`` for the service's "nothing changed"."""
    target = ref.to_target()
    change = Change(target, action, Definition("classic", sends, target) if sends is not None else None, live, requests, note)

    def made() -> Any:
        outcome = send()
        return sent(change, outcome=outcome or {}, changed=outcome is not None, verification="the service accepted the request")

    return apply(host, change, made)


def remove_service(host: Any, ref: ClassicRef, *, what_if: bool = False, confirm: Any = None, http: Any = None) -> dict[str, Any]:
    ref.validate()
    if what_if:
        return _plan(("DELETE", ref.service_url, None))
    with make_client(host.settings, http) as client:
        svc = client.get_service(ref)
        name = svc.get("Name") or ref.service
        if confirm:
            confirm(f"Remove web service {name!r} ({ref.service}) and all its endpoints?")
        def delete() -> dict[str, Any]:
            client.delete_service(ref)
            return {}

        _change(host, ref.with_endpoint(None), "remove", strip_keys(svc), _plan(("DELETE", ref.service_url, None))["requests"],
                delete)
    return {"webService": ref.service, "name": name, "removed": True, "message": f'Web service "{name}" was removed.'}


# --- endpoints (Get-/Add-/Remove-/Refresh-AmlWebServiceEndpoint) ---------------------------------------


def list_endpoints(settings: Any, ref: ClassicRef, *, show_keys: bool = False, http: Any = None) -> list[dict[str, Any]]:
    """The endpoints, without their API keys unless ``show_keys``."""
    ref.validate()
    with make_client(settings, http) as client:
        rows = [normalise(e) if isinstance(e, dict) else e for e in client.list_endpoints(ref)]
    return rows if show_keys else _hide(strip_keys(rows))


def _hide(obj: Any) -> Any:
    """SAS signatures (``SasBlobToken``) and connection-string keys masked, as keys are, unless ``--show-keys``."""
    from amlws.redact import redact_obj

    return redact_obj(obj)


def get_endpoint(settings: Any, ref: ClassicRef, *, show_keys: bool = False, http: Any = None) -> dict[str, Any]:
    """One endpoint with its ``Resources``, without its API keys unless ``show_keys``."""
    ref.validate()
    ref.endpoint_url  # noqa: B018 - needs an endpoint
    with make_client(settings, http) as client:
        doc = normalise(client.get_endpoint(ref))
    return doc if show_keys else _hide(strip_keys(doc))


def add_endpoint_body(
    *, description: str | None = None, throttle_level: str = "Low", max_concurrent_calls: int | None = None, prevent_update: bool = False
) -> dict[str, Any]:
    """The PUT body (REFERENCE §3.6, §7.4 #3): the set every client sends, plus ``PreventUpdate`` when asked.

    ``ThrottleLevel`` Low with ``MaxConcurrentCalls`` warns as AzureMLPS does and sends ``null``.
    """
    level = {t.lower(): t for t in THROTTLE_LEVELS}.get(str(throttle_level or "Low").lower())
    if level is None:
        raise UsageError(f"invalid throttle level {throttle_level!r}", hint="use --throttle-level Low or High")
    if max_concurrent_calls is not None:
        if isinstance(max_concurrent_calls, bool) or not isinstance(max_concurrent_calls, int) or not 1 <= max_concurrent_calls <= 200:
            raise UsageError(f"--max-concurrent-calls must be between 1 and 200 (got {max_concurrent_calls!r})",
                             hint="use a value from 1 to 200 with --throttle-level High")
        if level == "Low":
            log.warning(LOW_THROTTLE_WARNING)
            max_concurrent_calls = None
    body: dict[str, Any] = {"Description": description, "ThrottleLevel": level, "MaxConcurrentCalls": max_concurrent_calls}
    if prevent_update:
        body["PreventUpdate"] = True
    return body


def add_endpoint(
    host: Any,
    ref: ClassicRef,
    *,
    description: str | None = None,
    throttle_level: str = "Low",
    max_concurrent_calls: int | None = None,
    prevent_update: bool = False,
    what_if: bool = False,
    confirm: Any = None,
    http: Any = None,
) -> dict[str, Any]:
    ref.validate()
    check_endpoint_name(ref.endpoint or "")
    body = add_endpoint_body(description=description, throttle_level=throttle_level,
                             max_concurrent_calls=max_concurrent_calls, prevent_update=prevent_update)
    if what_if:
        return _plan(("GET", ref.endpoint_url, None), ("PUT", ref.endpoint_url, body))
    if confirm:
        confirm(f"Add endpoint {ref.endpoint!r} to web service {ref.service}?")
    with make_client(host.settings, http) as client:
        current = _read_endpoint(client, ref)  # saved to the local history: a PUT changes an existing endpoint
        answer: dict[str, Any] = {}

        def put() -> dict[str, Any]:
            answer["created"] = client.add_endpoint(ref, body)
            return {}

        _change(host, ref, "endpoint-add", current, _plan(("PUT", ref.endpoint_url, body))["requests"], put, sends=body,
                note=None if current is not None else "the endpoint did not exist")
        created = answer["created"]
    out: dict[str, Any] = {
        "webService": ref.service,
        "endpoint": ref.endpoint,
        "target": ref.endpoint_url,
        "added": True,
        "message": f'Web service endpoint "{ref.endpoint}" was successfully added.',
    }
    if created:
        out["endpointObject"] = _hide(strip_keys(normalise(created)))
    return out


def _default_name(client: Any, ref: ClassicRef) -> tuple[str, dict[str, Any]]:
    svc = client.get_service(ref)
    return str(svc.get("DefaultEndpointName") or "default"), svc


def remove_endpoint(host: Any, ref: ClassicRef, *, what_if: bool = False, confirm: Any = None, http: Any = None) -> dict[str, Any]:
    """DELETE an endpoint; refuses the default endpoint while the service has others (REFERENCE §3.8)."""
    ref.validate()
    url = ref.endpoint_url
    if what_if:
        plan = _plan(("GET", ref.service_url, None), ("GET", url, None), ("DELETE", url, None))
        plan["note"] = "the first GET checks that this is not the default endpoint while others exist; the second saves the endpoint to the local history"
        return plan
    with make_client(host.settings, http) as client:
        default, svc = _default_name(client, ref)
        if is_default_endpoint(ref.endpoint, default):
            count = svc.get("EndpointCount")
            if not isinstance(count, int):
                count = len(client.list_endpoints(ref))
            if count > 1:
                raise ConflictError(
                    f"cannot remove the default endpoint {ref.endpoint!r}: web service {ref.service} has {count - 1} other endpoint(s)",
                    hint="remove the other endpoints first (amlws classic endpoints list), or remove the whole web service",
                )
        if confirm:
            confirm(f"Remove endpoint {ref.endpoint!r} of web service {ref.service}?")
        current = strip_keys(normalise(client.get_endpoint(ref)))
        def delete() -> dict[str, Any]:
            client.delete_endpoint(ref)
            return {}

        _change(host, ref, "endpoint-remove", current, _plan(("DELETE", url, None))["requests"], delete)
    return {"webService": ref.service, "endpoint": ref.endpoint, "removed": True,
            "message": f'Web service endpoint "{ref.endpoint}" was successfully removed.'}


def refresh_endpoint(
    host: Any, ref: ClassicRef, *, overwrite_resources: bool = False, what_if: bool = False, confirm: Any = None, http: Any = None
) -> dict[str, Any]:
    """POST refresh with ``{"OverwriteResources": "True"|"False"}``; 304 means no change (REFERENCE §3.9)."""
    ref.validate()
    url = ref.endpoint_url + "/refresh"
    refuse_default(ref, "refresh")
    body = refresh_body(overwrite_resources)
    if what_if:
        return _plan(("GET", ref.service_url, None), ("GET", ref.endpoint_url, None), ("POST", url, body))
    with make_client(host.settings, http) as client:
        default, _ = _default_name(client, ref)
        refuse_default(ref, "refresh", default)
        if overwrite_resources:
            log.warning("--overwrite-resources replaces the trained model with the predictive experiment's: a model installed by patch is discarded")
        if confirm:
            confirm(f"Refresh endpoint {ref.endpoint!r} of web service {ref.service}?")
        current = strip_keys(normalise(client.get_endpoint(ref)))
        # 304 (nothing changed): no revision (it would make a plain rollback a no-op)
        def post() -> dict[str, Any] | None:
            return {"refreshed": True} if client.refresh_endpoint(ref, overwrite_resources) else None

        result = _change(host, ref, "endpoint-refresh", current, _plan(("POST", url, body))["requests"], post)
        changed = result.changed
    if not changed:
        message = f'No change detected, so endpoint "{ref.endpoint}" is NOT refreshed.'
    elif overwrite_resources:
        message = f'Endpoint "{ref.endpoint}" and the Trained Model(s) are refreshed.'
    else:
        message = f'Endpoint "{ref.endpoint}" is refreshed.'
    return {"webService": ref.service, "endpoint": ref.endpoint, "refreshed": changed, "overwriteResources": overwrite_resources,
            "message": message}


def ensure_endpoint(target: Any, settings: Any, options: dict[str, Any], *, http: Any = None) -> dict[str, Any]:
    """Add the target endpoint when the web service has no endpoint of that name (``amlws_ensure_target``,
    ``amlws fleet run`` rows with ``create``): GET it, and on 404 PUT it (REFERENCE §3.6)."""
    from amlws.errors import RemoteError

    from .backend import endpoint_ref

    ref = endpoint_ref(target)
    check_endpoint_name(ref.endpoint or "")
    body = add_endpoint_body(description=options.get("description"), throttle_level=options.get("throttle_level") or "Low",
                             max_concurrent_calls=options.get("max_concurrent_calls"))
    with make_client(settings, http) as client:
        try:
            client.get_endpoint(ref)
            return {"created": False, "endpoint": ref.endpoint, "target": ref.endpoint_url}
        except RemoteError as exc:
            if exc.status != 404:
                raise
        client.add_endpoint(ref, body)
    log.info('Web service endpoint "%s" was successfully added.', ref.endpoint)
    return {"created": True, "endpoint": ref.endpoint, "target": ref.endpoint_url}


def service_endpoints(target: Any, settings: Any, *, include_key: bool, definition: Any = None, http: Any = None) -> Any:
    """BES (``{ApiLocation}/jobs``) and RRS (``{ApiLocation}/execute?api-version=2.0&details=true``) of an
    endpoint, with its ``PrimaryKey`` when asked (REFERENCE §1.2: build them from ``ApiLocation``).

    A web-service target (no ``/endpoints/NAME``) means its default endpoint, the one BES training
    runs against in the docs' walkthrough. The live ``definition``, when given, saves the GET unless
    the key is wanted and this invocation has not read it yet.
    """
    from amlws.model import ServiceEndpoints

    from .backend import KEY_FIELDS, _stash

    ref = ClassicRef.from_target(target).validate()
    doc: dict[str, Any] = {}
    keys: dict[str, Any] = _stash(settings, "keys").get(target.id) or {}
    if definition is not None and (keys or not include_key):
        doc = normalise(definition.document)
    if not doc.get("ApiLocation"):
        with make_client(settings, http) as client:
            if not ref.endpoint:
                ref = ref.with_endpoint(_default_name(client, ref)[0])
            doc = normalise(client.get_endpoint(ref))
        keys = {k: doc[k] for k in KEY_FIELDS if doc.get(k)}
    api = str(doc.get("ApiLocation") or "").rstrip("/")
    if not api:
        raise UsageError(f"endpoint {ref.endpoint} of web service {ref.service} has no ApiLocation",
                         hint="pass the endpoint's BES or RRS URL with --url")
    key = (keys.get("PrimaryKey") or keys.get("SecondaryKey") or None) if include_key else None
    return ServiceEndpoints(target, bes_url=api + "/jobs", rrs_url=api + "/execute?api-version=2.0&details=true", api_key=key)
