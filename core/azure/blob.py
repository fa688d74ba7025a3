"""Blob storage for retraining: upload training data, download BES outputs, make SAS tokens.

Uses ``azure-storage-blob`` (imported lazily: the CLI must start fast). Works against
Azure and against Azurite's path-style URLs (``http://127.0.0.1:10000/devstoreaccount1/c/b``).
The storage connection string comes from ``--storage-connection-string``, the
``AMLWS_STORAGE_CONNECTION_STRING`` variable or the profile's ``storage_connection_string``;
it is never printed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, overload
from urllib.parse import quote, unquote

from ..errors import AmlwsError, AuthError, ConnectionFailed, NotFoundError, RemoteError, UsageError
from ..model import ModelLocation
from ..redact import redact, register_secret
from ..studio.jobconfig import register_sas
from .connection_string import CONNECTION_STRING_HINT, parse_connection_string

log = logging.getLogger("amlws.azure.blob")

DEFAULT_CONTAINER = "amlws-retrain"
@overload
def storage_connection_string(settings: Any, *, required: Literal[True] = ...) -> str: ...
@overload
def storage_connection_string(settings: Any, *, required: bool) -> str | None: ...
def storage_connection_string(settings: Any, *, required: bool = True) -> str | None:
    """The storage connection string from flags, ``AMLWS_STORAGE_CONNECTION_STRING`` or the profile."""
    value = settings.get("storage_connection_string") if settings is not None else None
    if value:
        register_secret(str(value))
        parse_connection_string(str(value))
        return str(value)
    if required:
        raise UsageError("no storage connection string configured", hint=CONNECTION_STRING_HINT)
    return None


@dataclass(frozen=True)
class StorageAccount:
    """What a connection string says: the blob endpoint (path-style for emulators) and credentials."""

    connection_string: str
    blob_endpoint: str
    account_name: str | None
    account_key: str | None
    sas: str | None

    @classmethod
    def from_connection_string(cls, cs: str) -> StorageAccount:
        parts = {k.lower(): v for k, v in parse_connection_string(cs).items()}
        name = parts.get("accountname")
        endpoint = parts.get("blobendpoint")
        if not endpoint:
            if not name:
                raise UsageError("the storage connection string has neither BlobEndpoint nor AccountName", hint=CONNECTION_STRING_HINT)
            protocol = parts.get("defaultendpointsprotocol", "https")
            suffix = parts.get("endpointsuffix", "core.windows.net")
            endpoint = f"{protocol}://{name}.blob.{suffix}"
        sas = parts.get("sharedaccesssignature")
        return cls(cs, endpoint.rstrip("/") + "/", name, parts.get("accountkey"), ("?" + sas.lstrip("?")) if sas else None)

    def blob_url(self, container: str, blob: str) -> str:
        return f"{self.blob_endpoint}{quote(container)}/{quote(blob)}"

    def serves(self, base_location: str) -> bool:
        """Whether a blob URL's base (``https://acct.blob.core.windows.net/``, path-style
        ``http://127.0.0.1:10000/acct/``) is this account's blob endpoint; the scheme may differ."""
        def key(url: str) -> str:
            return url.split("://", 1)[-1].rstrip("/").lower()

        return key(base_location) == key(self.blob_endpoint)

    def location(self, container: str, blob: str, sas_token: str = "") -> ModelLocation:
        return ModelLocation(self.blob_endpoint, f"{container}/{blob}", sas_token)


def _service(cs: str) -> Any:
    from azure.storage.blob import BlobServiceClient

    try:
        return BlobServiceClient.from_connection_string(cs, connection_timeout=10, read_timeout=120, retry_total=3)
    except ValueError as exc:
        raise UsageError(f"the storage connection string is not usable: {redact(str(exc))}", hint=CONNECTION_STRING_HINT) from None


def _translate(exc: Exception, what: str) -> AmlwsError:
    """azure-core exceptions as amlws errors (secrets redacted, one line)."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    first = redact(str(exc)).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, ResourceNotFoundError):
        return NotFoundError(f"{what}: not found ({first})", hint="check the container and blob name, and the storage account")
    if isinstance(exc, ClientAuthenticationError) or (isinstance(exc, HttpResponseError) and exc.status_code in (401, 403)):
        return AuthError(f"{what}: access denied ({first})", hint="check the account key or SAS token (expired? missing permission?)")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return ConnectionFailed(f"{what}: cannot reach the storage account ({first})", hint="check the blob endpoint and your network")
    if isinstance(exc, HttpResponseError):
        return RemoteError(f"{what}: HTTP {exc.status_code}: {first}", status=exc.status_code, code=getattr(exc, "error_code", None))
    return AmlwsError(f"{what}: {first}")


def upload_file(
    path: str | Path,
    *,
    connection_string: str,
    container: str = DEFAULT_CONTAINER,
    blob_name: str | None = None,
    overwrite: bool = False,
    create_container: bool = True,
    missing_hint: str = "check the path of the file to upload",
) -> ModelLocation:
    """Upload a local file (training data) and return its location (no SAS).

    :param missing_hint: the fix printed when the file does not exist: it names the caller's
        argument (``retrain --data``, ``blob upload FILE``).
    :raises NotFoundError: the file does not exist.
    :raises ConflictError: the blob exists and ``overwrite`` is false (via the service's 409).
    """
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import ContentSettings

    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"training data file not found: {p}", hint=missing_hint)
    name = blob_name or p.name
    account = StorageAccount.from_connection_string(connection_string)
    service = _service(connection_string)
    what = f"uploading {p.name} to {container}/{name}"
    try:
        cc = service.get_container_client(container)
        if create_container:
            try:
                cc.create_container()
            except ResourceExistsError:
                pass
        content_type = {".csv": "text/csv", ".tsv": "text/tab-separated-values"}.get(p.suffix.lower(), "application/octet-stream")
        with p.open("rb") as fh:
            cc.upload_blob(name, fh, overwrite=overwrite, content_settings=ContentSettings(content_type=content_type))
    except ResourceExistsError:
        from ..errors import ConflictError

        raise ConflictError(f"{what}: the blob already exists", hint="choose another --blob-name, or pass --overwrite") from None
    except Exception as exc:  # azure-core errors are translated
        if isinstance(exc, AmlwsError):
            raise
        raise _translate(exc, what) from None
    finally:
        service.close()
    log.info("uploaded %s to %s", p, account.blob_url(container, name))
    return account.location(container, name)


def download(
    location: ModelLocation | str,
    *,
    connection_string: str | None = None,
    dest: str | Path | None = None,
    max_bytes: int | None = 64 * 1024 * 1024,
) -> bytes:
    """Download a blob given as a :class:`ModelLocation` or a URL (with or without SAS).

    Without a SAS, the connection string's credentials are used.
    """
    from azure.storage.blob import BlobClient

    loc = ModelLocation.from_uri(location) if isinstance(location, str) else location
    container, _, blob = loc.relative_location.lstrip("/").partition("/")
    if not container or not blob:
        raise UsageError(f"not a blob location: {redact(loc.uri)}", hint="expected BaseLocation + container/blob")
    credential: Any = None
    account_url = loc.base_location.rstrip("/")
    if loc.sas_blob_token:
        register_sas(loc.sas_blob_token)
        credential = loc.sas_blob_token.lstrip("?")
    elif connection_string:
        account = StorageAccount.from_connection_string(connection_string)
        if account.account_key:
            credential = {"account_name": account.account_name, "account_key": account.account_key}
        elif account.sas:
            credential = account.sas.lstrip("?")
    what = f"downloading {redact(loc.blob_url)}"
    client = BlobClient(account_url, unquote(container), unquote(blob), credential=credential, connection_timeout=10, read_timeout=120, retry_total=3)
    try:
        props = client.get_blob_properties()
        if max_bytes is not None and props.size > max_bytes:
            raise UsageError(f"{what}: the blob is {props.size} bytes, more than the {max_bytes} allowed", hint="download it with azcopy")
        data = client.download_blob().readall()
    except AmlwsError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _translate(exc, what) from None
    finally:
        client.close()
    if dest is not None:
        from ..fsutil import atomic_write_bytes

        atomic_write_bytes(dest, data)
    return data


#: ``az storage blob generate-sas --permissions`` letters (add, create, delete, execute,
#: set immutability policy, move, read, tag, write, delete previous version, permanent delete).
SAS_PERMISSIONS = "acdeimrtwxy"
#: How long a SAS made by ``amlws blob sas`` (without ``--expiry``) and by ``amlws rollback`` lasts:
#: the service reads the model while the update is applied ("if your SAS token expires before
#: you finish updating the endpoint, ... obtain a fresh token"), not afterwards.
DEFAULT_SAS_LIFETIME = timedelta(hours=1)
#: A SAS starts this long ago, so that a storage service whose clock is a little behind accepts it.
CLOCK_SKEW = timedelta(minutes=5)


#: ``--expiry`` duration units: seconds, minutes, hours, days, weeks.
_EXPIRY_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str, *, now: datetime | None = None) -> datetime:
    """``--expiry``: a duration from now (``90s``, ``30m``, ``1h``, ``7d``, ``2w``) or a UTC date/time (``2027-01-31T12:00Z``).

    :raises UsageError: unreadable, or not in the future.
    """
    from ..model import parse_sas_time

    now = now or datetime.now(timezone.utc)
    value = text.strip()
    match = re.fullmatch(r"(?i)(\d+(?:\.\d+)?)\s*([smhdw])", value)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        when = now + timedelta(**{_EXPIRY_UNITS[unit]: amount})
    else:
        parsed = parse_sas_time(value) if re.match(r"\d{4}-\d{2}-\d{2}", value) else None
        if parsed is None:
            raise UsageError(f"--expiry {text!r} is neither a duration nor a date",
                             hint="give a duration such as 90s, 30m, 1h, 7d or 2w, or a UTC time such as 2027-01-31T12:00Z")
        when = parsed
    if when <= now:
        raise UsageError(f"--expiry {text!r} is not in the future", hint="give a later time, or a duration such as 1h")
    return when.astimezone(timezone.utc).replace(microsecond=0)


def _check_permissions(permissions: str) -> str:
    letters = permissions.strip()
    bad = sorted({c for c in letters if c not in SAS_PERMISSIONS})
    if not letters or bad:
        raise UsageError(f"--permissions {permissions!r} has letters a blob SAS does not know: {''.join(bad) or '(none given)'}",
                         hint=f"use letters from {SAS_PERMISSIONS!r} (as az storage blob generate-sas), e.g. r")
    return letters


def make_sas(
    connection_string: str,
    container: str,
    blob: str,
    *,
    permissions: str = "r",
    expiry: datetime | None = None,
    https_only: bool = False,
    now: datetime | None = None,
) -> ModelLocation:
    """A SAS for one blob, signed with the account key (``az storage blob generate-sas``), as a
    location with its ``?``-prefixed token. Its signature is registered as a secret (never logged).

    :param expiry: when it ends (default: :data:`DEFAULT_SAS_LIFETIME` from now).
    :param https_only: ``spr=https``: the service refuses the token over plain http.
    :raises UsageError: no account key in the connection string (a SAS-only connection string
        cannot sign), or unknown permission letters.
    """
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    letters = _check_permissions(permissions)
    account = StorageAccount.from_connection_string(connection_string)
    if not account.account_key or not account.account_name:
        raise UsageError(
            "cannot make a SAS without the account key",
            hint="use a connection string with AccountName and AccountKey, or give a blob URL that already has a SAS",
        )
    current = now or datetime.now(timezone.utc)
    token = generate_blob_sas(
        account_name=account.account_name,
        container_name=container,
        blob_name=blob,
        account_key=account.account_key,
        permission=BlobSasPermissions.from_string(letters),
        start=current - CLOCK_SKEW,
        expiry=expiry or current + DEFAULT_SAS_LIFETIME,
        protocol="https" if https_only else None,
    )
    register_sas(token)
    return account.location(container, blob, "?" + token)


def make_read_sas(
    connection_string: str,
    container: str,
    blob: str,
    *,
    hours: float = 24.0,
    now: datetime | None = None,
) -> ModelLocation:
    """A read-only (``sp=r``) SAS for one blob, valid for ``hours`` (see :func:`make_sas`)."""
    current = now or datetime.now(timezone.utc)
    return make_sas(connection_string, container, blob, expiry=current + timedelta(hours=hours), now=current)


def blob_in_account(account: StorageAccount, source: str) -> tuple[str, str]:
    """``(container, blob)`` of a blob URL in ``account``, or of ``container/blob``.

    :raises UsageError: the URL is in another storage account (the key would not sign for it),
        or ``source`` names no blob.
    """
    if source.startswith(("https://", "http://")):
        loc = ModelLocation.from_uri(source)
        if not account.serves(loc.base_location):
            raise UsageError(
                f"{redact(loc.blob_url)} is not in the storage account of the connection string ({account.blob_endpoint})",
                hint="set storage_connection_string to that account's connection string (amlws config set storage_connection_string)",
            )
        relative = unquote(loc.relative_location)
    else:
        relative = source
    container, _, blob = relative.lstrip("/").partition("/")
    if not container or not blob:
        raise UsageError(f"not a blob: {redact(source)!r}", hint="give a blob URL or CONTAINER/BLOB")
    return container, blob


def blob_sas(
    connection_string: str,
    source: str,
    *,
    permissions: str = "r",
    expiry: datetime | None = None,
    https_only: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What ``amlws blob sas`` prints: ``{url, sasToken, expiry}`` (the URL with the token, the
    token alone without ``?``, the expiry in UTC). The caller asked for the token: it is shown, never logged."""
    account = StorageAccount.from_connection_string(connection_string)
    container, blob = blob_in_account(account, source)
    current = now or datetime.now(timezone.utc)
    when = expiry or (current + DEFAULT_SAS_LIFETIME).replace(microsecond=0)
    loc = make_sas(connection_string, container, blob, permissions=permissions, expiry=when, https_only=https_only, now=current)
    log.info("made a SAS (sp=%s, until %s) for %s", permissions, when.isoformat(), loc.blob_url)
    return {"url": account.blob_url(container, blob) + loc.sas_blob_token, "sasToken": loc.sas_blob_token.lstrip("?"), "expiry": when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")}


def fresh_read_sas(
    connection_string: str | None, blob_url: str, *, lifetime: timedelta = DEFAULT_SAS_LIFETIME, now: datetime | None = None
) -> str | None:
    """A ``?``-prefixed read SAS for ``blob_url``, valid for ``lifetime``, when the connection string's
    account key can sign for it (same storage account), else ``None`` (``amlws rollback`` then asks
    for ``--sas-token``; ``amlws update`` reports the model blob as not checked)."""
    if not connection_string:
        return None
    account = StorageAccount.from_connection_string(connection_string)
    if not account.account_key or not account.account_name or not account.serves(ModelLocation.from_uri(blob_url).base_location):
        return None
    container, blob = blob_in_account(account, blob_url)
    current = now or datetime.now(timezone.utc)
    return make_sas(connection_string, container, blob, expiry=current + lifetime, now=current).sas_blob_token


def make_container_sas(
    connection_string: str, container: str, *, read: bool = True, write: bool = True, hours: float = 24.0
) -> str:
    """A ``?``-prefixed container SAS (read/write) for BES outputs written by SAS."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    account = StorageAccount.from_connection_string(connection_string)
    if not account.account_key or not account.account_name:
        if account.sas:
            return account.sas
        raise UsageError("cannot make a SAS without the account key", hint=CONNECTION_STRING_HINT)
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    token = generate_container_sas(
        account_name=account.account_name,
        container_name=container,
        account_key=account.account_key,
        permission=ContainerSasPermissions(read=read, write=write, create=write),
        start=start,
        expiry=start + timedelta(hours=hours, minutes=5),
    )
    register_sas(token)
    return "?" + token


def ensure_container(connection_string: str, container: str) -> None:
    from azure.core.exceptions import ResourceExistsError

    service = _service(connection_string)
    try:
        service.get_container_client(container).create_container()
    except ResourceExistsError:
        pass
    except Exception as exc:  # noqa: BLE001
        raise _translate(exc, f"creating container {container}") from None
    finally:
        service.close()
