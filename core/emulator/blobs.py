"""Azure Storage access for BES jobs and RRS model loading.

Reads and writes are plain HTTP with a SAS (made here from the account key when the reference
has a connection string); azure-storage-blob, imported lazily, only parses connection strings,
signs SAS tokens and creates containers.

Blob references use the BES ``AzureBlobDataReference`` shape: ``ConnectionString`` +
``RelativeLocation`` (regular blob) or ``BaseLocation`` + ``RelativeLocation`` + ``SasBlobToken``
(SAS blob). Azurite URLs are path-style (``http://127.0.0.1:PORT/devstoreaccount1/container/blob``).
"""

from __future__ import annotations

import datetime as _dt
import threading
from typing import Any

from ..azure.connection_string import split_connection_string

_TIMEOUT = (5, 30)  # connect, read (seconds)
_lock = threading.Lock()
_session: Any = None
_services: dict[str, Any] = {}


def _http() -> Any:
    """One pooled requests session for all blob I/O.

    A BES job makes three blob calls and the emulator runs many jobs at once; plain HTTP with a
    SAS costs a fraction of the CPU of an azure-storage-blob call (its pipeline, a client per
    blob), and the emulator shares the machine with the client it serves.
    """
    global _session
    with _lock:
        if _session is None:
            import requests

            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=64, max_retries=1)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _session = session
    return _session


class BlobError(Exception):
    """A storage failure, with a message safe to show (no keys, no signatures)."""


def accounts_from(*connection_strings: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for cs in connection_strings:
        if cs:
            parsed = parse_connection_string(cs)
            if parsed.get("AccountName") and valid_account_key(parsed.get("AccountKey")):
                out.setdefault(parsed["AccountName"], parsed["AccountKey"])
    return out


def valid_account_key(key: str | None) -> bool:
    """An account key signs requests only if it is base64 (else the SDK fails later with
    ``AzureSigningError: Invalid base64-encoded string``, far from the cause)."""
    import base64
    import binascii

    if not key:
        return False
    try:
        return bool(base64.b64decode(key, validate=True))
    except (binascii.Error, ValueError):
        return False


def check_connection_string(cs: str) -> None:
    """Raise :class:`~amlws.emulator.exceptions.ConfigurationError` unless ``cs`` is a storage
    connection string the emulator can use (checked at start, never echoed: it holds a key)."""
    from .exceptions import ConfigurationError

    hint = ("give the full connection string: Azurite's is in docs/emulator.md (Quick start), "
            "a storage account's is on its Access keys page")
    parsed = parse_connection_string(cs)
    if not parsed:
        raise ConfigurationError("invalid storage connection string: it has no NAME=VALUE parts", hint=hint)
    if not parsed.get("AccountName") and not parsed.get("BlobEndpoint"):
        raise ConfigurationError("invalid storage connection string: it names no AccountName and no BlobEndpoint", hint=hint)
    if not parsed.get("SharedAccessSignature"):
        if not parsed.get("AccountKey"):
            raise ConfigurationError("invalid storage connection string: it has neither AccountKey nor SharedAccessSignature",
                                     hint=hint)
        if not valid_account_key(parsed["AccountKey"]):
            raise ConfigurationError("invalid storage connection string: its AccountKey is not base64", hint=hint)
    try:
        _service(cs)
    except BlobError as exc:
        raise ConfigurationError(str(exc), hint=hint) from None


#: what a client sent, split leniently (amlws's one parser of connection strings).
parse_connection_string = split_connection_string


def split_relative(relative: str) -> tuple[str, str]:
    rel = (relative or "").lstrip("/")
    if "/" not in rel:
        raise BlobError(f"RelativeLocation {relative!r} must be <container>/<blob>")
    container, blob = rel.split("/", 1)
    return container, blob


def join_url(base: str, relative: str, sas: str | None = None) -> str:
    url = base.rstrip("/") + "/" + relative.lstrip("/")
    if sas:
        url += sas if sas.startswith("?") else "?" + sas
    return url


def _service(cs: str) -> Any:
    """The SDK client for a connection string: its account URL, and creating containers."""
    service = _services.get(cs)
    if service is not None:
        return service
    from azure.storage.blob import BlobServiceClient

    try:
        service = BlobServiceClient.from_connection_string(cs, retry_total=1, connection_timeout=_TIMEOUT[0], read_timeout=_TIMEOUT[1])
    except ValueError as exc:
        raise BlobError(f"invalid storage connection string: {str(exc).split(':')[0]}") from None
    with _lock:
        return _services.setdefault(cs, service)


def _ref_url(ref: dict[str, Any], permission: str) -> tuple[str, str, str]:
    """(URL with a SAS, base location, container/blob) of a BES blob reference."""
    from urllib.parse import quote

    if ref.get("ConnectionString"):
        container, blob = split_relative(ref.get("RelativeLocation") or "")
        service = _service(ref["ConnectionString"])
        cs = parse_connection_string(ref["ConnectionString"])
        base = service.url.split("?", 1)[0].rstrip("/") + "/"  # the URL of a SAS connection string carries the SAS
        sas = cs.get("SharedAccessSignature", "").lstrip("?")  # a SAS connection string brings its own
        if not sas:
            sas = _sas(cs.get("AccountName") or service.account_name, cs.get("AccountKey", ""), container, blob, permission)
        return f"{base}{quote(container)}/{quote(blob, safe='~/')}?{sas}", base, f"{container}/{blob}"
    if ref.get("BaseLocation"):
        relative = (ref.get("RelativeLocation") or "").lstrip("/")
        return join_url(ref["BaseLocation"], relative, ref.get("SasBlobToken")), ref["BaseLocation"], relative
    raise BlobError("the blob reference needs ConnectionString or BaseLocation + SasBlobToken")


class _StorageError(Exception):
    def __init__(self, status: int, code: str | None) -> None:
        super().__init__(code or f"HTTP {status}")
        self.status_code, self.error_code = status, code or "StorageError"


def _send(method: str, url: str, **kwargs: Any) -> Any:
    r = _http().request(method, url, timeout=_TIMEOUT, **kwargs)
    if r.status_code >= 300:
        raise _StorageError(r.status_code, r.headers.get("x-ms-error-code"))
    return r


def _describe(ref: dict[str, Any]) -> str:
    return (ref.get("RelativeLocation") or "").lstrip("/")


def read_blob(ref: dict[str, Any]) -> bytes:
    try:
        return _send("GET", _ref_url(ref, "r")[0]).content
    except BlobError:
        raise
    except Exception as exc:  # noqa: BLE001 - azure errors carry URLs with signatures: keep only the kind
        raise BlobError(f"cannot read blob {_describe(ref)}: {_kind(exc)}") from None


def list_blobs(cs: str, container: str, prefix: str) -> list[str]:
    """The names of the blobs under ``prefix`` in ``container``, sorted (none when the container is absent)."""
    try:
        client = _service(cs).get_container_client(container)
        return sorted(b.name for b in client.list_blobs(name_starts_with=prefix or None))
    except BlobError:
        raise
    except Exception as exc:  # noqa: BLE001
        if getattr(exc, "error_code", None) == "ContainerNotFound" or getattr(exc, "status_code", None) == 404:
            return []
        raise BlobError(f"cannot list blobs {container}/{prefix}: {_kind(exc)}") from None


def account_of(url: str) -> str | None:
    """The storage account a blob URL names: path-style (Azurite, ``http://127.0.0.1:10000/acct/...``) or host-style."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ".blob." in host:
        return host.split(".", 1)[0]
    segments = [p for p in parts.path.split("/") if p]
    return segments[0] if segments else None


def read_url(url: str, accounts: dict[str, str] | None = None) -> bytes:
    """Read a blob by its full URL: with the SAS in its query, or else with a known account key.

    :param accounts: account name -> key the service may use for URLs without a SAS (the ARM
        service's ``storageAccount``, the workspace's or the emulator's default storage).
    """
    try:
        if "?" not in url and accounts:
            name = account_of(url)
            if name and accounts.get(name):
                from azure.storage.blob import BlobClient

                # rare (no SAS in the URL): the SDK signs the request with the account key
                credential = {"account_name": name, "account_key": accounts[name]}
                return BlobClient.from_blob_url(url, credential=credential, retry_total=0, connection_timeout=_TIMEOUT[0],
                                               read_timeout=_TIMEOUT[1]).download_blob().readall()
        return _send("GET", url).content
    except Exception as exc:  # noqa: BLE001
        raise BlobError(f"cannot read blob {url.split('?')[0]}: {_kind(exc)}") from None


def write_blob(ref: dict[str, Any], data: bytes, *, content_type: str = "application/octet-stream",
               sas_hours: float = 24.0) -> dict[str, Any]:
    """Write ``data`` and return the BES ``Results`` reference: base/relative location and a read SAS."""
    try:
        url, base, relative = _ref_url(ref, "cw")
        headers = {"x-ms-blob-type": "BlockBlob", "Content-Type": content_type}
        try:
            _send("PUT", url, data=data, headers=headers)
        except _StorageError as exc:
            if not ref.get("ConnectionString") or exc.error_code != "ContainerNotFound":
                raise
            # as BES does, create the output container on first use (one request per container, not per blob)
            try:
                _service(ref["ConnectionString"]).create_container(relative.split("/", 1)[0])
            except Exception as create_exc:  # created meanwhile by another job
                if getattr(create_exc, "error_code", None) != "ContainerAlreadyExists":
                    raise
            _send("PUT", url, data=data, headers=headers)
    except BlobError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BlobError(f"cannot write blob {_describe(ref)}: {_kind(exc)}") from None
    if ref.get("ConnectionString"):
        cs = parse_connection_string(ref["ConnectionString"])
        container, blob = split_relative(relative)
        if cs.get("SharedAccessSignature"):
            token = "?" + cs["SharedAccessSignature"].lstrip("?")
        else:
            token = read_sas(cs.get("AccountName") or _service(ref["ConnectionString"]).account_name, cs.get("AccountKey", ""),
                             container, blob, hours=sas_hours)
        return {"ConnectionString": None, "RelativeLocation": relative, "BaseLocation": base, "SasBlobToken": token}
    return {"ConnectionString": None, "RelativeLocation": relative, "BaseLocation": ref["BaseLocation"],
            "SasBlobToken": ref.get("SasBlobToken")}


def _sas(account: str, key: str, container: str, blob: str, permission: str, *, hours: float = 1.0) -> str:
    """A short blob SAS (no leading ``?``) for the emulator's own request."""
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    now = _dt.datetime.now(_dt.timezone.utc)
    return generate_blob_sas(account_name=account, container_name=container, blob_name=blob, account_key=key,
                             permission=BlobSasPermissions.from_string(permission), start=now - _dt.timedelta(minutes=5),
                             expiry=now + _dt.timedelta(hours=hours))


def read_sas(account: str, key: str, container: str, blob: str, *, hours: float = 24.0) -> str:
    """A read-only blob SAS (``?sv=...&sr=b&sp=r&sig=...``), valid from 5 minutes ago for ``hours``."""
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    now = _dt.datetime.now(_dt.timezone.utc)
    sas = generate_blob_sas(account_name=account, container_name=container, blob_name=blob, account_key=key,
                            permission=BlobSasPermissions(read=True), start=now - _dt.timedelta(minutes=5),
                            expiry=now + _dt.timedelta(hours=hours))
    return "?" + sas


def _kind(exc: Exception) -> str:
    code = getattr(exc, "error_code", None)
    status = getattr(exc, "status_code", None)
    if code or status:
        return f"{code or type(exc).__name__} (HTTP {status})" if status else str(code)
    text = str(exc).split("\n")[0]
    if "sig=" in text or "AccountKey" in text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"
