"""Blob storage for retraining: upload training data, download BES outputs, make read SAS tokens.

Uses ``azure-storage-blob`` (imported lazily: the CLI must start fast). Works against
Azure and against Azurite's path-style URLs (``http://127.0.0.1:10000/devstoreaccount1/c/b``).
The storage connection string comes from ``--storage-connection-string``, the
``AMLWS_STORAGE_CONNECTION_STRING`` variable or the profile's ``storage_connection_string``;
it is never printed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from .errors import AmlwsError, AuthError, ConnectionFailed, NotFoundError, RemoteError, UsageError
from .model import ModelLocation
from .jobconfig import register_sas
from .redact import redact, register_secret

log = logging.getLogger("amlws.blob")

DEFAULT_CONTAINER = "amlws-retrain"
CONNECTION_STRING_HINT = (
    "set AMLWS_STORAGE_CONNECTION_STRING, or run: amlws config set storage_connection_string "
    "(DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...)"
)


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


def parse_connection_string(cs: str) -> dict[str, str]:
    """``Key=Value;...`` as a dict with the keys as written (values may contain ``=``)."""
    register_secret(cs)
    parts: dict[str, str] = {}
    for item in cs.strip().rstrip(";").split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError("the storage connection string is malformed", hint=CONNECTION_STRING_HINT)
        parts[key.strip()] = value.strip()
    lowered = {k.lower(): v for k, v in parts.items()}
    if "accountkey" in lowered:
        register_secret(lowered["accountkey"])
    if "sharedaccesssignature" in lowered:
        register_secret(lowered["sharedaccesssignature"])
    if not ({"accountname", "accountkey"} <= lowered.keys() or "sharedaccesssignature" in lowered):
        raise UsageError("the storage connection string has no AccountName/AccountKey or SharedAccessSignature", hint=CONNECTION_STRING_HINT)
    return parts


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
) -> ModelLocation:
    """Upload a local file (training data) and return its location (no SAS).

    :raises UsageError: the file does not exist.
    :raises ConflictError: the blob exists and ``overwrite`` is false (via the service's 409).
    """
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import ContentSettings

    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"training data file not found: {p}", hint="check the --data path")
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
        from .errors import ConflictError

        raise ConflictError(f"{what}: the blob already exists", hint="choose another --blob-name, or pass --overwrite") from None
    except Exception as exc:  # noqa: BLE001 - azure-core errors are translated
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
        from .fsutil import atomic_write_bytes

        atomic_write_bytes(dest, data)
    return data


def make_read_sas(
    connection_string: str,
    container: str,
    blob: str,
    *,
    hours: float = 24.0,
    now: datetime | None = None,
) -> ModelLocation:
    """A read-only (``sp=r``) SAS for one blob, as a location with its ``?``-prefixed token.

    Needs an account key in the connection string (a SAS-only connection string cannot sign).
    """
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    account = StorageAccount.from_connection_string(connection_string)
    if not account.account_key or not account.account_name:
        raise UsageError(
            "cannot make a SAS without the account key",
            hint="use a connection string with AccountName and AccountKey, or give a blob URL that already has a SAS",
        )
    start = (now or datetime.now(timezone.utc)) - timedelta(minutes=5)
    token = generate_blob_sas(
        account_name=account.account_name,
        container_name=container,
        blob_name=blob,
        account_key=account.account_key,
        permission=BlobSasPermissions(read=True),
        start=start,
        expiry=start + timedelta(hours=hours, minutes=5),
    )
    register_sas(token)
    return account.location(container, blob, "?" + token)


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
