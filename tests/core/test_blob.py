"""Blob helpers against a real Azurite (path-style URLs, the devstoreaccount1 account)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from amlws.azure.blob import (
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


# --- amlws blob sas (az storage blob generate-sas) -------------------------------------------


def _upload(azurite, container: str, tmp_path: Path, name: str = "models/m.ilearner", data: bytes = b"model-bytes") -> None:
    f = tmp_path / "upload.bin"
    f.write_bytes(data)
    upload_file(f, connection_string=azurite.connection_string, container=container, blob_name=name)


def test_blob_sas_command_makes_a_working_read_sas_shown_only_on_stdout(
    azurite, azurite_container: str, tmp_path: Path, run_cli, make_pm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    from urllib.parse import parse_qs, quote, urlsplit

    from amlws.model import parse_sas_time

    _upload(azurite, azurite_container, tmp_path)
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", azurite.connection_string)
    before = datetime.now(timezone.utc)
    code, out, err = run_cli(["--debug", "blob", "sas", f"{azurite_container}/models/m.ilearner", "--expiry", "2h", "-o", "json"], make_pm())
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"url", "sasToken", "expiry"}
    assert data["url"] == f"{azurite.blob_endpoint}/{azurite_container}/models/m.ilearner?{data['sasToken']}"
    fields = {k: v[0] for k, v in parse_qs(data["sasToken"]).items()}
    assert fields["sp"] == "r" and fields["sr"] == "b" and "spr" not in fields
    expiry = parse_sas_time(data["expiry"])
    assert parse_sas_time(fields["se"]) == expiry and timedelta(hours=2) - timedelta(seconds=5) <= expiry - before <= timedelta(hours=2, seconds=5)
    # the token works on its own (no account key) and only for reading
    assert download(data["url"]) == b"model-bytes"
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import BlobClient

    with pytest.raises(HttpResponseError) as info:
        BlobClient.from_blob_url(data["url"]).upload_blob(b"overwrite", overwrite=True)
    assert info.value.status_code == 403
    # shown because it was asked for, never in the logs (stderr carries the --debug log; making a SAS sends nothing)
    assert "made a SAS (sp=r" in err and fields["sig"] not in err and quote(fields["sig"], safe="") not in err
    assert urlsplit(data["url"]).path.endswith("/models/m.ilearner")
    # the table format: the URL alone on one line of stdout (to copy), the expiry on stderr
    code, out, err = run_cli(["blob", "sas", f"{azurite_container}/models/m.ilearner"], make_pm())
    assert code == 0 and out.count("\n") == 1 and out.startswith(f"{azurite.blob_endpoint}/{azurite_container}/models/m.ilearner?")
    assert "sp=r" in out and err.startswith("expires ")


def test_blob_sas_by_url_with_permissions_iso_expiry_and_https_only(azurite, azurite_container: str, tmp_path: Path) -> None:
    from urllib.parse import parse_qs

    from amlws.azure.blob import blob_sas, parse_expiry

    _upload(azurite, azurite_container, tmp_path, "a b.ilearner")
    now = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
    when = parse_expiry("2026-12-08T01:30+01:00", now=now)
    assert when == datetime(2026, 12, 8, 0, 30, tzinfo=timezone.utc)
    url = f"{azurite.blob_endpoint}/{azurite_container}/a%20b.ilearner"
    data = blob_sas(azurite.connection_string, url, permissions="rw", expiry=when, https_only=True, now=now)
    fields = {k: v[0] for k, v in parse_qs(data["sasToken"]).items()}
    assert (fields["sp"], fields["spr"], fields["se"], fields["st"]) == ("rw", "https", "2026-12-08T00:30:00Z", "2026-12-07T11:55:00Z")
    assert data["expiry"] == "2026-12-08T00:30:00Z" and data["url"].startswith(url + "?")
    assert parse_expiry("30m", now=now) == now + timedelta(minutes=30) and parse_expiry("7d", now=now) == now + timedelta(days=7)


def test_expiry_durations_in_seconds_minutes_hours_days_and_weeks() -> None:
    """``--expiry 1s`` and ``2w`` are durations as ``30m`` is (the help names the units)."""
    from amlws.azure.blob import parse_expiry
    from amlws.errors import UsageError

    now = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
    assert parse_expiry("1s", now=now) == now + timedelta(seconds=1)
    assert parse_expiry("90S", now=now) == now + timedelta(seconds=90)
    assert parse_expiry("2w", now=now) == now + timedelta(weeks=2)
    assert parse_expiry("1.5h", now=now) == now + timedelta(minutes=90)
    with pytest.raises(UsageError, match="neither a duration nor a date"):
        parse_expiry("3y", now=now)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["c/b", "--expiry", "soon"], "is neither a duration nor a date"),
        (["c/b", "--expiry", "2020-01-01"], "is not in the future"),
        (["c/b", "--permissions", "rq"], "letters a blob SAS does not know: q"),
        (["justablob"], "not a blob"),
        (["https://other.blob.core.windows.net/c/m.ilearner"], "is not in the storage account of the connection string"),
    ],
)
def test_blob_sas_refuses_bad_input_with_exit_2(azurite, run_cli, make_pm, monkeypatch, args, message) -> None:
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", azurite.connection_string)
    code, out, err = run_cli(["blob", "sas", *args], make_pm())
    assert code == 2 and out == "" and message in err and err.startswith("error: "), err


def test_blob_sas_needs_an_account_key(run_cli, make_pm, monkeypatch) -> None:
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2020&sig=abc")
    code, out, err = run_cli(["blob", "sas", "c/m.ilearner"], make_pm())
    assert code == 2 and "cannot make a SAS without the account key" in err
    monkeypatch.delenv("AMLWS_STORAGE_CONNECTION_STRING")
    code, out, err = run_cli(["blob", "sas", "c/m.ilearner"], make_pm())
    assert code == 2 and "no storage connection string configured" in err


def test_blob_upload_of_a_missing_file_names_its_argument_not_retrain_data(azurite, run_cli, make_pm, monkeypatch, tmp_path: Path) -> None:
    """``blob upload`` has no --data option: the fix names the FILE argument (retrain keeps --data)."""
    monkeypatch.setenv("AMLWS_STORAGE_CONNECTION_STRING", azurite.connection_string)
    missing = tmp_path / "nosuch.csv"
    code, out, err = run_cli(["blob", "upload", str(missing)], make_pm())
    assert code == 3 and out == ""
    assert err == f"error: training data file not found: {missing} (fix: check the FILE argument of amlws blob upload)\n"
    with pytest.raises(NotFoundError) as exc:
        upload_file(missing, connection_string=azurite.connection_string, missing_hint="check the --data path")
    assert exc.value.hint == "check the --data path"
