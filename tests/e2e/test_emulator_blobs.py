"""The emulator's storage access (core/emulator/blobs.py) against Azurite: plain HTTP with a SAS
made from the connection string's key, or the connection string's own SAS; a missing output
container created on first write; errors naming the blob, never the signature."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from amlws.emulator import blobs


def account_sas_connection_string(azurite: Any) -> str:
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    cs = blobs.parse_connection_string(azurite.connection_string)
    sas = generate_account_sas(cs["AccountName"], cs["AccountKey"], ResourceTypes(service=True, container=True, object=True),
                               AccountSasPermissions(read=True, write=True, create=True, list=True),
                               expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    return f"BlobEndpoint={cs['BlobEndpoint']};SharedAccessSignature={sas}"


def test_write_creates_the_missing_container_and_returns_a_readable_sas_reference(azurite: Any, azurite_container: str):
    ref = {"ConnectionString": azurite.connection_string, "RelativeLocation": f"{azurite_container}/run 1/model.ilearner"}
    out = blobs.write_blob(ref, b"model-bytes")
    assert out["ConnectionString"] is None and out["RelativeLocation"] == f"{azurite_container}/run 1/model.ilearner"
    assert out["BaseLocation"] == azurite.blob_endpoint.rstrip("/") + "/" and "sig=" in out["SasBlobToken"] and "sp=r" in out["SasBlobToken"]
    assert blobs.read_url(blobs.join_url(out["BaseLocation"], "/" + out["RelativeLocation"].replace(" ", "%20"), out["SasBlobToken"])) == b"model-bytes"
    assert blobs.read_blob(ref) == b"model-bytes"
    assert blobs.read_blob(out) == b"model-bytes"  # the BES Results shape: BaseLocation + RelativeLocation + SasBlobToken
    blobs.write_blob(ref, b"second")  # the container exists now: overwritten in place
    assert blobs.read_blob(ref) == b"second"


def test_a_sas_connection_string_reads_and_writes_with_its_own_sas(azurite: Any, azurite_container: str):
    sas_cs = account_sas_connection_string(azurite)
    ref = {"ConnectionString": sas_cs, "RelativeLocation": f"{azurite_container}/out.csv"}
    out = blobs.write_blob(ref, b"a,b\n1,2\n")
    assert out["BaseLocation"] == f"{azurite.blob_endpoint.rstrip('/')}/" and "?" not in out["BaseLocation"]
    assert blobs.read_blob({"ConnectionString": azurite.connection_string, "RelativeLocation": f"{azurite_container}/out.csv"}) == b"a,b\n1,2\n"
    assert blobs.read_blob(out) == b"a,b\n1,2\n"


def test_errors_name_the_blob_and_the_storage_error_without_the_signature(azurite: Any, azurite_container: str):
    ref = {"ConnectionString": azurite.connection_string, "RelativeLocation": f"{azurite_container}/missing.csv"}
    blobs.write_blob({**ref, "RelativeLocation": f"{azurite_container}/present.csv"}, b"x")
    with pytest.raises(blobs.BlobError) as err:
        blobs.read_blob(ref)
    assert str(err.value) == f"cannot read blob {azurite_container}/missing.csv: BlobNotFound (HTTP 404)"
    url = blobs.write_blob({**ref, "RelativeLocation": f"{azurite_container}/present.csv"}, b"x")
    bad = blobs.join_url(url["BaseLocation"], url["RelativeLocation"], url["SasBlobToken"].replace("sig=", "sig=AAAA"))
    with pytest.raises(blobs.BlobError) as err:
        blobs.read_url(bad)
    assert "HTTP 403" in str(err.value) and "sig=" not in str(err.value)
