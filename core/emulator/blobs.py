"""Azure Storage access for BES jobs and RRS model loading (azure-storage-blob, imported lazily).

Blob references use the BES ``AzureBlobDataReference`` shape: ``ConnectionString`` +
``RelativeLocation`` (regular blob) or ``BaseLocation`` + ``RelativeLocation`` + ``SasBlobToken``
(SAS blob). Azurite URLs are path-style (``http://127.0.0.1:PORT/devstoreaccount1/container/blob``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import threading
from typing import Any

_TIMEOUTS = {"connection_timeout": 5, "read_timeout": 30}
_lock = threading.Lock()
_transport: Any = None
_services: dict[str, Any] = {}


def _client_kw() -> dict[str, Any]:
    """Keyword arguments for every storage client: one shared, pooled transport.

    A BES job makes three blob calls and the emulator runs many jobs at once; a client (and
    so a requests session and a TCP connection) per call cost more CPU than the job itself.
    """
    global _transport
    with _lock:
        if _transport is None:
            import requests
            from azure.core.pipeline.transport import RequestsTransport

            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=64)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            # session_owner=False: a client going out of scope must not close the shared session
            _transport = RequestsTransport(session=session, session_owner=False, **_TIMEOUTS)
    return {"retry_total": 1, "transport": _transport, **_TIMEOUTS}


class BlobError(Exception):
    """A storage failure, with a message safe to show (no keys, no signatures)."""


def accounts_from(*connection_strings: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for cs in connection_strings:
        if cs:
            parsed = parse_connection_string(cs)
            if parsed.get("AccountName") and parsed.get("AccountKey"):
                out.setdefault(parsed["AccountName"], parsed["AccountKey"])
    return out


def parse_connection_string(cs: str) -> dict[str, str]:
    out = {}
    for part in cs.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


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
    service = _services.get(cs)
    if service is not None:
        return service
    from azure.storage.blob import BlobServiceClient

    try:
        service = BlobServiceClient.from_connection_string(cs, **_client_kw())
    except ValueError as exc:
        raise BlobError(f"invalid storage connection string: {str(exc).split(':')[0]}") from None
    with _lock:
        return _services.setdefault(cs, service)


def _blob_client(ref: dict[str, Any]) -> Any:
    if ref.get("ConnectionString"):
        container, blob = split_relative(ref.get("RelativeLocation") or "")
        return _service(ref["ConnectionString"]).get_blob_client(container, blob)
    if ref.get("BaseLocation"):
        from azure.storage.blob import BlobClient

        return BlobClient.from_blob_url(join_url(ref["BaseLocation"], ref.get("RelativeLocation") or "", ref.get("SasBlobToken")), **_client_kw())
    raise BlobError("the blob reference needs ConnectionString or BaseLocation + SasBlobToken")


def _describe(ref: dict[str, Any]) -> str:
    return (ref.get("RelativeLocation") or "").lstrip("/")


def read_blob(ref: dict[str, Any]) -> bytes:
    try:
        return _blob_client(ref).download_blob().readall()
    except BlobError:
        raise
    except Exception as exc:  # noqa: BLE001 - azure errors carry URLs with signatures: keep only the kind
        raise BlobError(f"cannot read blob {_describe(ref)}: {_kind(exc)}") from None


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
    from azure.storage.blob import BlobClient

    credential = None
    if "?" not in url and accounts:
        name = account_of(url)
        if name and accounts.get(name):
            credential = {"account_name": name, "account_key": accounts[name]}
    try:
        return BlobClient.from_blob_url(url, credential=credential, **_client_kw()).download_blob().readall()
    except Exception as exc:  # noqa: BLE001
        raise BlobError(f"cannot read blob {url.split('?')[0]}: {_kind(exc)}") from None


def write_blob(ref: dict[str, Any], data: bytes, *, content_type: str = "application/octet-stream",
               sas_hours: float = 24.0) -> dict[str, Any]:
    """Write ``data`` and return the BES ``Results`` reference: base/relative location and a read SAS."""
    from azure.storage.blob import ContentSettings

    try:
        client = _blob_client(ref)
        upload = functools.partial(client.upload_blob, data, overwrite=True, content_settings=ContentSettings(content_type=content_type))
        try:
            upload()
        except Exception as exc:  # noqa: BLE001 - azure errors; only a missing container is ours to mend
            if not ref.get("ConnectionString") or getattr(exc, "error_code", None) != "ContainerNotFound":
                raise
            # as BES does, create the output container on first use (one request per container, not per blob)
            try:
                _service(ref["ConnectionString"]).get_container_client(client.container_name).create_container()
            except Exception as create_exc:  # noqa: BLE001 - created meanwhile by another job
                if getattr(create_exc, "error_code", None) != "ContainerAlreadyExists":
                    raise
            upload()
    except BlobError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BlobError(f"cannot write blob {_describe(ref)}: {_kind(exc)}") from None
    relative = f"{client.container_name}/{client.blob_name}"
    if ref.get("ConnectionString"):
        cs = parse_connection_string(ref["ConnectionString"])
        base = client.url[: client.url.index(relative)] if relative in client.url else client.primary_endpoint.rsplit(relative, 1)[0]
        token = read_sas(cs.get("AccountName") or client.account_name, cs.get("AccountKey", ""), client.container_name,
                         client.blob_name, hours=sas_hours)
        return {"ConnectionString": None, "RelativeLocation": relative, "BaseLocation": base, "SasBlobToken": token}
    return {"ConnectionString": None, "RelativeLocation": relative, "BaseLocation": ref["BaseLocation"],
            "SasBlobToken": ref.get("SasBlobToken")}


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
