"""ARM web-service operations as library functions (what the hooks and commands call).

Each function takes the invocation's settings and an :class:`amlws.model.Target` claimed by
the ``arm`` backend. Azure SDK modules are imported only through :mod:`.client`.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from amlws.errors import ConflictError, NotFoundError, OperationFailed, UsageError
from amlws.model import Definition, ServiceEndpoints, Target, UpdateResult
from amlws.safety.change import Change, apply, sent

from . import definition as defs
from .ids import build_id, target_parts

log = logging.getLogger("amlws.arm")

BACKEND = "arm"


def make_target(text: str) -> Target | None:
    parts = target_parts(text)
    if parts is None:
        return None
    return Target(BACKEND, parts.pop("id"), parts)


def subscription_of(settings: Any, explicit: str | None = None) -> str:
    sub = explicit or settings.get("subscription", env_aliases=("AZURE_SUBSCRIPTION_ID",))
    if not sub:
        raise UsageError(
            "no ARM subscription given",
            hint="pass --subscription, set AZURE_SUBSCRIPTION_ID, or: amlws config set subscription SUB_ID",
        )
    return str(sub)


def target_from_options(options: dict[str, Any], settings: Any) -> str | None:
    """``-g RG -n NAME [--subscription S]`` -> resource ID; ``None`` unless a name and a resource group
    (the option or the ``resource_group`` setting) are given: another backend may use ``name`` alone. The subscription comes from the option, the settings or
    ``AZURE_SUBSCRIPTION_ID``; missing, it is a usage error (nothing is sent)."""
    name = options.get("name")
    rg = options.get("resource_group") or (settings.get("resource_group") if name else None)
    if not name or not rg:
        return None
    return build_id(subscription_of(settings, options.get("subscription")), str(rg), str(name))


def _client(settings: Any, target: Target | None = None, subscription: str | None = None) -> Any:
    from .client import ArmClient

    sub = subscription or (target.parts.get("subscription") if target else None)
    return ArmClient(settings, subscription=sub)


# --- the walkthrough steps -------------------------------------------------------------


def get_definition(target: Target, settings: Any, *, region: str | None = None) -> Definition:
    """``GET {id}[?region=]`` -> :class:`Definition` (the raw service document)."""
    with _client(settings, target) as client:
        document = client.get(target.id, region=region)
    return Definition(BACKEND, document, target)


def import_document(document: Any, source: str) -> Definition | None:
    if not defs.looks_like_arm(document):
        return None
    normalised, _ = defs.normalize(document, source)
    return Definition(BACKEND, normalised)


def check_storage_account(document: dict[str, Any], live: dict[str, Any], target: Target) -> None:
    """Refuse a definition naming another storage account than the live service (azure-powershell#3465)."""
    sent = ((document.get("properties") or {}).get("storageAccount") or {}).get("name")
    current = ((live.get("properties") or {}).get("storageAccount") or {}).get("name")
    if sent and current and str(sent).lower() != str(current).lower():
        raise UsageError(
            f"the definition names storage account {sent!r} but {target.id} uses {current!r}; "
            "the service would reject the update with CannotChangeStorageAccount (the storage account of a web service cannot be changed)",
            hint=f"set properties.storageAccount.name to {current!r} (or remove storageAccount) in the definition",
        )


def plan_update(target: Target, definition: Definition, settings: Any) -> list[dict[str, Any]]:
    from .client import arm_endpoint

    url = arm_endpoint(settings) + target.id + f"?api-version={defs.API_VERSION}"
    body = json.loads(defs.request_body(definition.document))
    return [
        {"method": "GET", "url": url, "purpose": "read the live service (storage account check)"},
        {"method": "PATCH", "url": url, "body": body},
        {"method": "GET", "url": "<Azure-AsyncOperation URL of the PATCH response>", "purpose": "poll until Succeeded or Failed"},
        {"method": "GET", "url": url, "purpose": "final read-back; verify the trained-model URI"},
    ]


def update(target: Target, definition: Definition, settings: Any, *, live: Definition | None = None) -> UpdateResult:
    """GET (storage check), PATCH, poll, final GET; then verify the trained-model URI.

    :param live: the live definition the host has just read (``amlws_update``'s ``live``): the
        first GET is not sent again.
    """
    document = definition.document
    body = defs.request_body(document)
    with _client(settings, target) as client:
        current = live.document if live is not None else client.get(target.id)
        check_storage_account(document, current, target)
        final = client.patch(target.id, body)
        sent_requests = len(client.wire) + (1 if live is not None else 0)
    return _result(target, document, final, sent_requests)


def _result(target: Target, document: dict[str, Any], final: dict[str, Any], sent_requests: int) -> UpdateResult:
    state = ((final or {}).get("properties") or {}).get("provisioningState")
    if state and str(state).lower() == "failed":
        raise OperationFailed(f"{target.id}: the service reports provisioningState Failed after the update",
                              hint="check the definition with amlws import and the service in the portal")
    checks: dict[str, Any] = {}
    model_uri = None
    for asset_id, asset in defs.trained_model_assets(document).items():
        sent = (asset.get("locationInfo") or {}).get("uri")
        live = defs.asset_uri(final, asset_id)
        match = bool(sent) and bool(live) and defs.strip_sas(sent) == defs.strip_sas(live)
        model_uri = model_uri or defs.strip_sas(sent)
        checks[asset_id] = {"sent": defs.strip_sas(sent), "live": defs.strip_sas(live), "match": match}
    # Verified only when the service reports every trained-model location that was sent: an update
    # without a trained model has nothing to verify, and says what it checked instead.
    verified = bool(checks) and all(c["match"] for c in checks.values())
    if not checks:
        verification = f"no trained-model asset was sent; the service reports provisioningState {state or 'unknown'}"
    elif verified:
        verification = "the service reports the trained-model location that was sent (" + ", ".join(checks) + ")"
    else:
        wrong = ", ".join(a for a, c in checks.items() if not c["match"])
        verification = f"the service does not report the trained-model location that was sent ({wrong})"
    details = {"provisioningState": state, "assets": checks}
    return UpdateResult(target, Definition(BACKEND, final, target), verified, model_uri, sent_requests, details,
                        verification=verification)


def patch_ilearner(definition: Definition, location: Any, selector: str | None) -> Definition:
    document, asset_id = defs.patch_ilearner(definition.document, location, selector)
    log.info("asset %s now points at %s", asset_id, location.blob_url)
    return Definition(BACKEND, document, definition.target)


# --- BES and RRS of a web service ------------------------------------------------------------

#: The query of the RRS URL the Azure ML Web Services portal shows for a new (ARM) web service.
RRS_QUERY = "api-version=2.0&format=swagger"


def api_location_from_swagger(swagger_location: str, target: Target) -> str:
    """``https://{region}.services.azureml.net/subscriptions/{sub}/services/{id}/swagger.json`` ->
    the same URL without ``/swagger.json``: the base of ``/jobs`` (BES) and ``/execute`` (RRS).

    UNVERIFIED against the real service: the API reference gives only the swagger URL's shape;
    that BES and RRS live beside it is what the portal's "Consume" page and the BES docs show
    (``.../subscriptions/{sub}/services/{id}/jobs``), and what the amlws emulator serves.
    """
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(str(swagger_location).strip())
    path = parts.path.rstrip("/")
    if parts.scheme not in ("https", "http") or not parts.netloc or not path.lower().endswith("/swagger.json"):
        raise UsageError(
            f"{target.id}: unexpected swaggerLocation {swagger_location!r} (expected .../services/ID/swagger.json)",
            hint="pass the service's BES or RRS URL with --url",
        )
    return urlunsplit((parts.scheme, parts.netloc, path[: -len("/swagger.json")], "", ""))


def service_endpoints(target: Target, settings: Any, *, include_key: bool, definition: Definition | None = None) -> ServiceEndpoints:
    """BES and RRS URLs from the web service's ``properties.swaggerLocation`` (``GET {id}``, unless the
    live ``definition`` is given) and, when asked, its primary key (``GET {id}/listKeys``)."""
    with _client(settings, target) as client:
        document = definition.document if definition is not None else client.get(target.id)
        props = (document or {}).get("properties") or {}
        swagger = props.get("swaggerLocation")
        if not swagger:
            state = props.get("provisioningState") or "unknown"
            raise UsageError(
                f"{target.id} has no swaggerLocation yet (provisioningState {state}): its BES/RRS URLs are not known",
                hint="wait until amlws get shows provisioningState Succeeded, or pass the URL with --url",
            )
        api = api_location_from_swagger(swagger, target)
        key = None
        if include_key:
            keys = client.list_keys(target.id) or {}
            key = keys.get("primary") or keys.get("secondary") or None
    return ServiceEndpoints(target, bes_url=api + "/jobs", rrs_url=f"{api}/execute?{RRS_QUERY}", api_key=key)


# --- the other cmdlets ----------------------------------------------------------------------


def list_services(settings: Any, *, resource_group: str | None = None, subscription: str | None = None) -> list[dict[str, Any]]:
    """``Get-AzMlWebService [-ResourceGroupName]``: every page, sparse items."""
    sub = subscription_of(settings, subscription)
    path = f"/subscriptions/{sub}"
    if resource_group:
        path += f"/resourceGroups/{resource_group}"
    path += "/providers/Microsoft.MachineLearning/webServices"
    with _client(settings, subscription=sub) as client:
        return client.list(path)


def create_body(definition: Definition, location: str | None) -> dict[str, Any]:
    document = copy.deepcopy(definition.document)
    loc = location or document.get("location")
    if not loc:
        raise UsageError("creating a web service needs a location", hint="pass --location, e.g. --location 'South Central US'")
    document["location"] = loc
    return json.loads(defs.request_body(document))


def plan_create(target: Target, definition: Definition, settings: Any, *, location: str | None, force: bool) -> list[dict[str, Any]]:
    from .client import arm_endpoint

    url = arm_endpoint(settings) + target.id + f"?api-version={defs.API_VERSION}"
    body = create_body(definition, location)
    purpose = "save the existing web service to the local history" if force else "refuse if the web service exists"
    plan: list[dict[str, Any]] = [{"method": "GET", "url": url, "purpose": purpose}]
    plan.append({"method": "PUT", "url": url, "body": body})
    plan.append({"method": "GET", "url": "<Azure-AsyncOperation URL of the PUT response>", "purpose": "poll until Succeeded or Failed"})
    return plan


def create(host: Any, target: Target, definition: Definition, *, location: str | None, force: bool = False) -> Definition:
    """``New-AzMlWebService``: GET, PUT (+LRO) through the change path (observers, history); refuses to
    overwrite an existing service unless ``force``, and then saves the existing one to history first.

    :param host: the :class:`amlws.host.Host` whose observers are asked (``amlws_before_update``, action ``new``).
    """
    settings = host.settings
    document = create_body(definition, location)
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    with _client(settings, target) as client:
        try:
            current = client.get(target.id)
        except NotFoundError:
            current = None
        if current is not None and not force:
            raise ConflictError(
                f"{target.id} exists; PUT would overwrite it without recovery",
                hint="use amlws update to change it, or pass --force to overwrite it",
            )
        change = Change(target, "new", Definition(BACKEND, document, target), current,
                        plan_create(target, definition, settings, location=location, force=force),
                        note=None if current is not None else "the web service did not exist")

        def put() -> Any:
            final = client.put(target.id, body)
            state = (final.get("properties") or {}).get("provisioningState")
            created = Definition(BACKEND, final, target)
            return sent(change, created, outcome={"provisioningState": state}, requests=len(client.wire),
                        verification=f"the service reports provisioningState {state or 'unknown'}", after=created)

        return apply(host, change, put).definition


def remove(host: Any, target: Target) -> None:
    """``Remove-AzMlWebService``: GET (saved to the local history), DELETE (+LRO), through the change path
    (observers are shown the live definition, action ``remove``)."""
    with _client(host.settings, target) as client:
        current = client.get(target.id)
        change = Change(target, "remove", None, current, plan_remove(target, host.settings))

        def delete() -> Any:
            client.delete(target.id)
            return sent(change, requests=len(client.wire), verification="the DELETE completed")

        apply(host, change, delete)


def list_keys(target: Target, settings: Any) -> dict[str, Any]:
    """``Get-AzMlWebServiceKey``: GET {id}/listKeys (values registered as secrets)."""
    with _client(settings, target) as client:
        return client.list_keys(target.id)


def add_region(host: Any, target: Target, region: str) -> Definition:
    """``Add-AzMlWebServiceRegionalProperty``: GET (saved to the local history), POST CreateRegionalBlob
    (+LRO), then GET ?region=, through the change path (observers are shown the live definition,
    action ``add-region``)."""
    if not region or not region.strip():
        raise UsageError("--region is required", hint="e.g. --region 'Southeast Asia'")
    with _client(host.settings, target) as client:
        current = client.get(target.id)
        change = Change(target, "add-region", None, current, plan_add_region(target, host.settings, region),
                        note=f"region {region}")

        def post() -> Any:
            client.create_regional_blob(target.id, region)
            regional = Definition(BACKEND, client.get(target.id, region=region), target)
            return sent(change, regional, outcome={"region": region}, requests=len(client.wire),
                        verification=f"the service reports the web service in {region}")

        return apply(host, change, post).definition


def plan_add_region(target: Target, settings: Any, region: str) -> list[dict[str, Any]]:
    from urllib.parse import quote

    from .client import arm_endpoint

    base = arm_endpoint(settings) + target.id
    return [
        {"method": "GET", "url": f"{base}?api-version={defs.API_VERSION}", "purpose": "save the web service to the local history"},
        {"method": "POST", "url": f"{base}/CreateRegionalBlob?region={quote(region)}&api-version={defs.API_VERSION}"},
        {"method": "GET", "url": "<Azure-AsyncOperation URL of the POST response>", "purpose": "poll until Succeeded or Failed"},
        {"method": "GET", "url": f"{base}?api-version={defs.API_VERSION}&region={quote(region)}"},
    ]


def plan_remove(target: Target, settings: Any) -> list[dict[str, Any]]:
    from .client import arm_endpoint

    url = arm_endpoint(settings) + target.id + f"?api-version={defs.API_VERSION}"
    return [
        {"method": "GET", "url": url, "purpose": "save the web service to the local history"},
        {"method": "DELETE", "url": url},
        {"method": "GET", "url": "<Azure-AsyncOperation or Location URL of the DELETE response>", "purpose": "poll until done"},
    ]
