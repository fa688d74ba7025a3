"""Checks of the trained-model references an update is about to send, before anything is sent.

Only the references that differ from the live service are checked (an update that leaves the
model alone is not refused over a model the service already has):

- the scheme: a SAS signature sent over plain http is a leaked credential, so ``http://`` is refused
  unless ``--allow-http`` (loopback emulator and Azurite URLs are always allowed);
- the SAS: not expired, grants read (:meth:`amlws.model.ModelLocation.check`);
- with ``head`` (``amlws update``, unless ``--no-check-model``): one ``HEAD`` of the ``.ilearner``
  blob through the shared HTTP policy, with the SAS the reference carries. 404 refuses (exit 3),
  401/403 refuses (exit 4): the service could not read it either, and every score after the update
  would fail. A storage account this machine cannot reach (no DNS answer, refused, timeout: e.g. a
  private endpoint only the service can reach) gives one warning and the update goes on.

A reference without a SAS (an asset URI built from BaseLocation + RelativeLocation: the service
reads it with its own storage key) can only be checked with the account key of the configured
storage connection string (``storage_connection_string``), which signs a short read SAS for the
``HEAD``; without it the reference is reported as not checked. SAS signatures never appear in a
message: only the blob URL without its query is shown.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from ..errors import AmlwsError, AuthError, ConnectionFailed, NotFoundError, RemoteError, UsageError
from ..model import Definition, ModelLocation

log = logging.getLogger("amlws.safety.modelcheck")

#: One retry and short timeouts: an unreachable private endpoint should cost seconds, not a minute.
HEAD_TIMEOUT = (5.0, 15.0)
HEAD_RETRIES = 1


def references(host: Any, definition: Definition) -> dict[str, ModelLocation]:
    """Selector (an asset id, a resource name) -> location, from ``amlws_model_reference``;
    a reference that is not a blob URL (an ARM id, an ``azureml://`` model version) is left to
    the service's own validation."""
    out: dict[str, ModelLocation] = {}
    for ref in host.model_references(definition):
        try:
            out[ref["selector"] or ref["name"]] = ModelLocation.from_reference(ref["uri"])
        except UsageError:
            continue
    return out


def changed_references(host: Any, definition: Definition, live: Definition | None) -> dict[str, ModelLocation]:
    """The trained-model references of ``definition`` that the live service does not have now."""
    refs = references(host, definition)
    if not refs or live is None:
        return refs
    current = {name: loc.uri for name, loc in references(host, live).items()}
    return {name: loc for name, loc in refs.items() if current.get(name) != loc.uri}


def check_references(
    host: Any, definition: Definition, live: Definition | None, *, allow_http: bool = False, head: bool = False
) -> dict[str, str]:
    """Check the changed references (see the module docstring); returns name -> what was found
    (``readable (HEAD 200)``, ``not checked: ...``), for the update result's details.

    :raises UsageError: a plain-http reference without ``allow_http``; an expired or read-less SAS.
    :raises NotFoundError: the blob answers 404 (with ``head``).
    :raises AuthError: the blob answers 401/403 to the SAS given (with ``head``).
    """
    found: dict[str, str] = {}
    for name, loc in changed_references(host, definition, live).items():
        loc.check_scheme(allow_http=allow_http)
        loc.check(check_sas=bool(loc.sas_blob_token))
        if head:
            found[name] = head_blob(loc, host.settings)
    return found


def planned_heads(host: Any, definition: Definition, live: Definition | None, *, head: bool = True) -> list[dict[str, Any]]:
    """The ``HEAD`` requests :func:`check_references` would send (``update --what-if``): one per changed
    reference that has a SAS or can be signed with the configured account key; URLs without SAS."""
    if not head:
        return []
    return [{"method": "HEAD", "url": loc.blob_url, "purpose": f"check that the model blob ({name}) exists and is readable"}
            for name, loc in changed_references(host, definition, live).items()
            if loc.sas_blob_token or _signed_with_account_key(loc, host.settings) is not None]


def head_blob(location: ModelLocation, settings: Any, *, http: Any = None) -> str:
    """``HEAD`` the blob with the SAS it carries (or one signed with the configured account key).

    :returns: what was found, in one line without secrets.
    """
    from ..studio.jobconfig import register_sas

    shown = location.blob_url
    signed = location if location.sas_blob_token else _signed_with_account_key(location, settings)
    if signed is None:
        note = "not checked: the reference has no SAS and no storage account key for it is configured"
        log.info("model blob %s %s (set storage_connection_string to check it)", shown, note)
        return note
    register_sas(signed.sas_blob_token)
    from ..http import HttpClient

    client = http or HttpClient(settings, retries=HEAD_RETRIES, timeout=HEAD_TIMEOUT)
    try:
        resp = client.request("HEAD", signed.uri)
    except ConnectionFailed as exc:
        log.warning("cannot check the model blob %s: %s from this machine; the update goes on (the service may reach "
                    "a private endpoint this machine cannot)", shown, exc.message)
        return "not checked: the storage account cannot be reached from this machine"
    except RemoteError as exc:
        return _refuse(exc, shown)
    finally:
        if http is None:
            client.close()
    return f"readable (HEAD {resp.status_code})"


def _refuse(exc: RemoteError, shown: str) -> str:
    code = exc.code or ""
    if exc.status == 404:
        raise NotFoundError(
            f"the model blob does not exist: {shown} (HEAD answered 404{' ' + code if code else ''}); nothing was sent",
            hint="check the container and blob name (the RelativeLocation of the BES output), or pass --no-check-model",
        ) from None
    if exc.status in (401, 403):
        raise AuthError(
            f"the model blob cannot be read with the SAS given: {shown} (HEAD answered {exc.status}); nothing was sent",
            hint="give a SAS with read permission (sp=r) that has not expired, for this blob or its container "
            "(amlws jobs status gives a fresh one), or pass --no-check-model",
        ) from None
    log.warning("checking the model blob %s: HTTP %s; the update goes on", shown, exc.status)
    return f"not checked: HEAD answered {exc.status}"


def _signed_with_account_key(location: ModelLocation, settings: Any) -> ModelLocation | None:
    """The location with a short read SAS, when the configured connection string holds this account's key."""
    from ..azure.blob import fresh_read_sas, storage_connection_string

    try:
        token = fresh_read_sas(storage_connection_string(settings, required=False), location.blob_url, lifetime=timedelta(minutes=15))
    except AmlwsError:  # an unusable connection string: the blob is reported as not checked
        return None
    return None if token is None else ModelLocation(location.base_location, location.relative_location, token)


__all__ = ["changed_references", "check_references", "head_blob", "planned_heads", "references"]
