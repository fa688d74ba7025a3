"""Blob helpers against a real Azurite (path-style URLs, the devstoreaccount1 account)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from amlws.blob import (
    StorageAccount,
    download,
    make_read_sas,
    parse_connection_string,
    storage_connection_string,
    upload_file,
)
from amlws.config import Settings
from amlws.errors import AuthError, ConflictError, ExitCode, NotFoundError, UsageError
from amlws.model import ModelLocation
from amlws.redact import redact

pytestmark = [pytest.mark.azurite, pytest.mark.usefixtures("amlws_env")]

CSV = "age,income,label\n39,77516,0\n50,83311,1\n"


def test_upload_then_download_with_connection_string(azurite, azurite_container: str, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text(CSV, encoding="utf-8")
    loc = upload_file(data, connection_string=azurite.connection_string, container=azurite_container, blob_name="runs/r1/train.csv")
    assert loc.base_location == f"http://127.0.0.1:{azurite.port}/devstoreaccount1/"
    assert loc.relative_location == f"{azurite_container}/runs/r1/train.csv" and loc.sas_blob_token == ""
    # the blob is really there, with a CSV content type
    with azurite.service() as svc:
        props = svc.get_blob_client(azurite_container, "runs/r1/train.csv").get_blob_properties()
    assert props.size == len(CSV) and props.content_settings.content_type == "text/csv"
    assert download(loc, connection_string=azurite.connection_string) == CSV.encode()
    # a second upload to the same name is refused unless asked
    with pytest.raises(ConflictError) as info:
        upload_file(data, connection_string=azurite.connection_string, container=azurite_container, blob_name="runs/r1/train.csv")
    assert info.value.exit_code == ExitCode.CONFLICT


def test_read_sas_download_by_url(azurite, azurite_container: str, tmp_path: Path) -> None:
    data = tmp_path / "eval.csv"
    data.write_text("Accuracy,AUC\n0.9,0.95\n", encoding="utf-8")
    upload_file(data, connection_string=azurite.connection_string, container=azurite_container, blob_name="deep/dir/eval.csv")
    loc = make_read_sas(azurite.connection_string, azurite_container, "deep/dir/eval.csv", hours=1)
    assert loc.sas_blob_token.startswith("?") and "sp=r" in loc.sas_blob_token and "sig=" in loc.sas_blob_token
    # by URL with SAS, no account key at all (as BES results are read)
    assert download(loc.uri) == b"Accuracy,AUC\n0.9,0.95\n"
    assert download(ModelLocation.from_uri(loc.uri), dest=tmp_path / "copy.csv") == b"Accuracy,AUC\n0.9,0.95\n"
    assert (tmp_path / "copy.csv").read_bytes() == b"Accuracy,AUC\n0.9,0.95\n"
    assert "sig=***" in redact(loc.uri)


def test_expired_sas_and_missing_blob(azurite, azurite_container: str, tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_text("x\n1\n", encoding="utf-8")
    upload_file(data, connection_string=azurite.connection_string, container=azurite_container, blob_name="a.csv")
    old = make_read_sas(azurite.connection_string, azurite_container, "a.csv", hours=1, now=datetime.now(timezone.utc) - timedelta(days=2))
    with pytest.raises(AuthError) as info:
        download(old)
    assert "sig=" not in info.value.message or "sig=***" in info.value.message
    with pytest.raises(NotFoundError):
        download(ModelLocation(f"{azurite.blob_endpoint}/", f"{azurite_container}/nope.csv"), connection_string=azurite.connection_string)


def test_upload_missing_file(azurite) -> None:
    with pytest.raises(NotFoundError, match="training data file not found"):
        upload_file("/nonexistent/train.csv", connection_string=azurite.connection_string)


def test_connection_string_from_settings(amlws_env: Path) -> None:
    cs = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5LXNlY3JldC12YWx1ZQ==;EndpointSuffix=core.windows.net"
    settings = Settings(env={"AMLWS_STORAGE_CONNECTION_STRING": cs})
    assert storage_connection_string(settings) == cs
    assert "a2V5LXNlY3JldC12YWx1ZQ==" not in redact(f"using {cs}")
    account = StorageAccount.from_connection_string(cs)
    assert account.blob_endpoint == "https://acct.blob.core.windows.net/" and account.account_name == "acct"
    with pytest.raises(UsageError, match="no storage connection string configured") as info:
        storage_connection_string(Settings(env={}))
    assert "AMLWS_STORAGE_CONNECTION_STRING" in (info.value.hint or "")
    with pytest.raises(UsageError, match="malformed"):
        parse_connection_string("justtext")
    with pytest.raises(UsageError, match="no AccountName/AccountKey"):
        parse_connection_string("AccountName=x;BlobEndpoint=https://x")
