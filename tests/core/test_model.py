"""The backend-neutral model (ModelLocation checks), atomic writes, and the api helpers."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlws import api
from amlws.errors import AmlwsError, NotFoundError, UsageError
from amlws.fsutil import atomic_write_bytes, atomic_write_text, read_text
from amlws.model import Definition, ModelLocation, Target, parse_sas_time

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
SAS_OK = "?sv=2020-08-04&sr=b&sp=r&se=2030-01-01T00%3A00%3A00Z&sig=abc"


# --- ModelLocation -------------------------------------------------------------------------------


def test_from_uri_splits_an_azure_blob_url():
    loc = ModelLocation.from_uri("https://acct.blob.core.windows.net/models/run1/model.ilearner" + SAS_OK)
    assert loc == ModelLocation("https://acct.blob.core.windows.net/", "models/run1/model.ilearner", SAS_OK)
    assert loc.blob_url == "https://acct.blob.core.windows.net/models/run1/model.ilearner"
    assert loc.uri == "https://acct.blob.core.windows.net/models/run1/model.ilearner" + SAS_OK
    assert loc.sas_fields()["sp"] == "r" and loc.sas_fields()["se"] == "2030-01-01T00:00:00Z"
    loc.check(now=NOW)


def test_from_uri_keeps_the_account_of_an_azurite_path_style_url():
    uri = "http://127.0.0.1:10000/devstoreaccount1/models/m.ilearner?sv=2021&sp=r&sig=x"
    loc = ModelLocation.from_uri(uri)
    assert loc.base_location == "http://127.0.0.1:10000/devstoreaccount1/"
    assert loc.relative_location == "models/m.ilearner"
    assert loc.uri == uri
    loc.check(now=NOW)  # http is fine on loopback (the emulators)


def test_from_uri_rejects_relative_text():
    with pytest.raises(UsageError, match="not an absolute blob URL"):
        ModelLocation.from_uri("models/m.ilearner")


def test_uri_adds_the_question_mark():
    assert ModelLocation("https://a/", "/c/m.ilearner", "sv=1").uri == "https://a/c/m.ilearner?sv=1"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://a.blob.core.windows.net/c/m.ilearner?sv=1&sp=r&se=2025-06-01T00:00:00Z&sig=x", "the SAS token expired at 2025-06-01T00:00:00Z"),
        ("https://a.blob.core.windows.net/c/m.ilearner?sv=1&sp=w&se=2030-01-01&sig=x", "the SAS token does not grant read (sp=w)"),
        ("https://a.blob.core.windows.net/c/model.csv", "the model URI does not name an .ilearner blob: https://a.blob.core.windows.net/c/model.csv"),
    ],
)
def test_check_refuses_what_the_service_would_reject(uri, message):
    with pytest.raises(UsageError) as info:
        ModelLocation.from_uri(uri).check(now=NOW)
    assert info.value.message == message
    assert info.value.hint and info.value.exit_code == 2


def test_check_accepts_no_sas_and_date_only_expiry():
    ModelLocation.from_uri("https://a.blob.core.windows.net/c/M.ILEARNER").check(now=NOW)
    ModelLocation.from_uri("https://a.blob.core.windows.net/c/m.ilearner?se=2026-01-02&sp=rl&sig=x").check(now=NOW)
    ModelLocation.from_uri("http://a.example/c/m.ilearner").check()  # the scheme is check_scheme's


def test_parse_sas_time():
    assert parse_sas_time("2030-01-01T00:00:00Z") == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert parse_sas_time("2030-01-01") == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert parse_sas_time("2030-01-01T10:00Z") == datetime(2030, 1, 1, 10, tzinfo=timezone.utc)
    assert parse_sas_time("2030-01-01T10:00:00.1234567Z") == datetime(2030, 1, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert parse_sas_time("garbage") is None


def test_from_bes_result_any_case():
    loc = ModelLocation.from_bes_result(
        {"ConnectionString": "x", "RelativeLocation": "c/m.ilearner", "BaseLocation": "https://a/", "SasBlobToken": "?sig=1"}
    )
    assert loc.to_dict() == {"BaseLocation": "https://a/", "RelativeLocation": "c/m.ilearner", "SasBlobToken": "?sig=1"}
    assert ModelLocation.from_bes_result({"baseLocation": "https://a/", "relativeLocation": "c/m.ilearner"}).sas_blob_token == ""
    with pytest.raises(UsageError, match="no BaseLocation/RelativeLocation"):
        ModelLocation.from_bes_result({"BaseLocation": "https://a/"})


@given(
    account=st.from_regex(r"[a-z0-9]{3,12}", fullmatch=True),
    path=st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,10}", fullmatch=True), min_size=1, max_size=4),
)
def test_from_uri_round_trips(account, path):
    uri = f"https://{account}.blob.core.windows.net/{'/'.join(path)}.ilearner?sv=1&sig=s"
    assert ModelLocation.from_uri(uri).uri == uri


# --- api.model_location_from ------------------------------------------------------------------------


BES_STATUS = {
    "StatusCode": "Finished",
    "Results": {
        "output1": {"BaseLocation": "https://a.blob.core.windows.net/", "RelativeLocation": "c/scores.csv", "SasBlobToken": "?s=1"},
        "output2": {"BaseLocation": "https://a.blob.core.windows.net/", "RelativeLocation": "c/model.ilearner", "SasBlobToken": "?s=2"},
    },
}


def test_model_location_from_a_bes_status_picks_the_ilearner(tmp_path):
    assert api.model_location_from(bes_result=BES_STATUS).relative_location == "c/model.ilearner"
    f = tmp_path / "status.json"
    f.write_text(__import__("json").dumps(BES_STATUS))
    assert api.model_location_from(bes_result=str(f)).sas_blob_token == "?s=2"
    assert api.model_location_from(bes_result=BES_STATUS, output_name="output1").relative_location == "c/scores.csv"
    with pytest.raises(UsageError, match="no BES output named 'x'"):
        api.model_location_from(bes_result=BES_STATUS, output_name="x")


def test_model_location_from_needs_exactly_one_source():
    with pytest.raises(UsageError, match="exactly one"):
        api.model_location_from()
    with pytest.raises(UsageError, match="exactly one"):
        api.model_location_from(uri="https://a/c/m.ilearner", base_location="https://a/")
    loc = api.model_location_from(base_location="https://a/", relative_location="c/m.ilearner", sas_blob_token="?sig=1")
    assert loc.uri == "https://a/c/m.ilearner?sig=1"


def test_parse_json_names_the_line():
    with pytest.raises(UsageError) as info:
        api.parse_json('{\n  "a": 1,\n}', "f.json")
    assert info.value.message.startswith("f.json: malformed JSON at line 3 column 1: ")
    with pytest.raises(UsageError, match=r"f.json: empty definition"):
        api.parse_json("  \n", "f.json")


def test_definition_fingerprint_and_diff():
    a = Definition("arm", {"b": 1, "a": {"x": [1, 2]}})
    b = Definition("arm", {"a": {"x": [1, 2]}, "b": 1})
    assert a.fingerprint() == b.fingerprint()
    c = a.copy()
    c.document["a"]["x"].append(3)
    assert a.document["a"]["x"] == [1, 2] and a.fingerprint() != c.fingerprint()
    diff = api.definition_diff({"keys": {"primary": "pk-secret"}, "n": 1}, {"keys": {"primary": "pk-secret"}, "n": 2})
    assert "-  \"n\": 1" in diff and "+  \"n\": 2" in diff and "pk-secret" not in diff
    assert Target("arm", "/x").to_dict() == {"backend": "arm", "id": "/x", "parts": {}}


# --- atomic writes -----------------------------------------------------------------------------------


def test_atomic_write_replaces_and_creates_parents(tmp_path):
    target = tmp_path / "deep" / "dir" / "f.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["f.json"]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    target.write_text("old")

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(AmlwsError) as info:
        atomic_write_bytes(target, b"new content")
    assert info.value.message == f"cannot write {target}: No space left on device"
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.json"]


def test_failed_rename_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    target.write_text("old")

    def failing_replace(src, dst):
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(AmlwsError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.json"]


def test_unwritable_location_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot write"):
        atomic_write_text(blocker / "sub" / "f.json", "x")


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_atomic_write_modes(tmp_path):
    secret = atomic_write_text(tmp_path / "secret.toml", "k = 1", mode=0o600)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    plain = atomic_write_text(tmp_path / "export.json", "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask
    os.chmod(plain, 0o640)
    atomic_write_text(plain, "{}")  # an existing file keeps its permissions
    assert stat.S_IMODE(plain.stat().st_mode) == 0o640


def test_read_text_tolerates_bom_and_utf16(tmp_path):
    f = tmp_path / "d.json"
    f.write_bytes("\ufeff{}".encode("utf-8"))
    assert read_text(f) == "{}"
    f.write_bytes('{"a": "é"}'.encode("utf-16"))
    assert read_text(f) == '{"a": "é"}'
    with pytest.raises(NotFoundError, match="definition file not found"):
        read_text(tmp_path / "missing.json", what="definition file")
    with pytest.raises(UsageError, match="is a directory"):
        read_text(tmp_path)


def test_write_json_asks_before_overwriting(tmp_path):
    f = tmp_path / "out.json"
    api.write_json(f, {"a": 1})
    assert f.read_text() == '{\n  "a": 1\n}\n'
    with pytest.raises(UsageError, match="confirmation needed"):
        api.write_json(f, {"a": 2})
    assert Path(f).read_text() == '{\n  "a": 1\n}\n'
    api.write_json(f, {"a": 2}, force=True)
    assert '"a": 2' in f.read_text()


def test_plain_http_is_refused_unless_allowed_and_loopback_stays_allowed(caplog):
    """A SAS over http is a leaked credential: refused (exit 2, the hint forms the https URL); the old
    samples' http:// passes with --allow-http and a warning; the emulator/Azurite loopback URLs pass."""
    location = ModelLocation.from_uri("http://bostonmtc.blob.core.windows.net/models/loc1.ilearner?sv=1&sp=r&se=2099-01-01&sig=x")
    with pytest.raises(UsageError) as info:
        location.check_scheme()
    assert info.value.exit_code == 2
    assert info.value.message.startswith("the model URI is plain http: http://bostonmtc.blob.core.windows.net/models/loc1.ilearner ")
    assert "https://bostonmtc.blob.core.windows.net/models/loc1.ilearner" in info.value.hint and "--allow-http" in info.value.hint
    assert "sig=" not in info.value.message + info.value.hint
    with caplog.at_level("WARNING", logger="amlws"):
        location.check_scheme(allow_http=True)
    assert "plain http (http://bostonmtc.blob.core.windows.net/models/loc1.ilearner)" in caplog.text and "sig=" not in caplog.text
    ModelLocation.from_uri("http://127.0.0.1:10000/devstoreaccount1/c/m.ilearner?sig=x").check_scheme()
    ModelLocation.from_uri("https://a.blob.core.windows.net/c/m.ilearner").check_scheme()


@pytest.mark.parametrize("host", ["127.evil.example", "127.0.0.1.nip.io", "localhost.example.com", "10.0.0.1"])
def test_a_host_that_only_looks_local_is_not_loopback(host):
    """One loopback rule (``amlws.model.is_loopback``, by address): a DNS name that merely starts
    with ``127.`` reaches another machine, so its plain-http model URI (a SAS in clear) is refused,
    as are ARM bearer tokens over http to it."""
    from amlws.model import is_loopback
    from amlws.plugins.arm.client import _is_loopback_http

    assert not is_loopback(host)
    assert not _is_loopback_http(f"http://{host}:8080/subscriptions/x")
    with pytest.raises(UsageError):
        ModelLocation.from_uri(f"http://{host}/c/m.ilearner?sig=x").check_scheme()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.3.2.1", "[::1]"])
def test_loopback_addresses_stay_allowed(host):
    from amlws.model import is_loopback
    from amlws.plugins.arm.client import _is_loopback_http

    assert is_loopback(host.strip("[]"))
    assert _is_loopback_http(f"http://{host}:8080/subscriptions/x")
    ModelLocation.from_uri(f"http://{host}:10000/devstoreaccount1/c/m.ilearner?sig=x").check_scheme()
