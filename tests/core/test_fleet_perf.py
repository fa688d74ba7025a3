"""The product changes behind the benchmarks (bench/): each keeps its behaviour while it got faster
or smaller. Fleet connection reuse, streamed JSON writes, redaction's fast path, ARM export and
patch-ilearner without deep copies."""

from __future__ import annotations

import copy
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlws import redact as R
from amlws.api import write_json, write_json_stream
from amlws.config import Settings
from amlws.errors import AmlwsError
from amlws.fsutil import atomic_write_with
from amlws.http import HttpClient, SessionPool
from amlws.model import ModelLocation
from amlws.plugins.arm import definition as defs

# --- one keep-alive session per fleet worker ---------------------------------------------------


def test_clients_share_a_session_per_thread_only_with_a_pool(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(env={})
    a, b = HttpClient(s), HttpClient(s)
    assert a.session is not b.session  # no pool: one session per client, as before
    pool = SessionPool()
    s.http_session_pool = pool
    c, d = HttpClient(s), HttpClient(s)
    assert c.session is d.session and c.session.trust_env is False  # no proxy set: no environment scan per request
    other: list[Any] = []
    t = threading.Thread(target=lambda: other.append(HttpClient(s).session))
    t.start()
    t.join()
    assert other[0] is not c.session  # requests sessions are not shared across threads
    c.close()
    assert d.session.adapters  # closing a client leaves the pooled session open
    pool.close()
    assert pool._sessions == []


def test_pooled_sessions_keep_proxy_variables(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    s = Settings(env={})
    s.http_session_pool = SessionPool()
    assert HttpClient(s).session.trust_env is True


# --- streamed JSON writes ------------------------------------------------------------------------

DOC = {"a": [1, 2.5, {"b": "é \u2028 \"q\"", "c": None, "d": True}], "e": {}, "f": [], "g": "x" * 100}


@pytest.mark.parametrize("batch", [1, 3, 8192])
def test_write_json_stream_writes_what_json_dumps_would(batch: int):
    out = io.BytesIO()
    write_json_stream(DOC, out, batch=batch)
    assert out.getvalue() == (json.dumps(DOC, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def test_write_json_keeps_the_file_mode_and_a_failed_write_keeps_the_old_file(tmp_path: Path):
    path = tmp_path / "def.json"
    path.write_text("old\n", encoding="utf-8")
    if os.name == "posix":
        path.chmod(0o640)
    write_json(path, DOC, force=True)
    assert json.loads(path.read_text(encoding="utf-8")) == DOC
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o640

    def boom(fh: Any) -> None:
        fh.write(b"half")
        raise ValueError("not JSON serializable")

    with pytest.raises(ValueError):
        atomic_write_with(path, boom)
    assert json.loads(path.read_text(encoding="utf-8")) == DOC
    assert [p.name for p in tmp_path.iterdir()] == ["def.json"]  # no temporary file left

    def disk_full(fh: Any) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(AmlwsError) as err:
        atomic_write_with(path, disk_full)
    assert "No space left" in err.value.message


# --- redaction's fast path -----------------------------------------------------------------------


def reference_redact(text: str) -> str:
    """redact() without the fast path: every pattern on every string."""
    for value in sorted(R._SECRET_VALUES, key=len, reverse=True):
        if value in text:
            text = text.replace(value, R.MASK)
    for pattern, repl in R._PATTERNS:
        text = pattern.sub(repl, text)
    return text


FRAGMENTS = ["sig=abc123", "?sv=2020&SIG=Zz%3D&se=2030", "Bearer eyJ0eXAi.x", "bearer", "AccountKey=Zm9v==;", "accountkey=",
             "SharedAccessSignature=sv%3D1", '"PrimaryKey": "k1"', "'apiKey': 'k2'", '"key":"v"', "'arm_token': 't'",
             "AuthorizationToken: abcdefgh", "authorizationtoken=abcdef12", '"password" : "p"', "client_secret",
             "plain text", "{}", "é", " ", ":", '"', "'", "=", "x"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=8))
def test_redact_fast_path_changes_nothing(parts: list[str]):
    text = "".join(parts)
    assert R.redact(text) == reference_redact(text)


def test_redact_obj_in_place_masks_the_same_and_returns_the_object():
    doc = {"properties": {"keys": {"primary": "p1"}, "storageAccount": {"name": "s", "key": "k"},
                          "assets": {"a": {"locationInfo": {"uri": "https://x/m.ilearner?sv=1&sig=SECRET"}}}, "n": [1, "sig=abc", None]}}
    copied = R.redact_obj(doc)
    original = copy.deepcopy(doc)
    assert doc == original  # the copying form leaves its input alone
    same = R.redact_obj(doc, in_place=True)
    assert same is doc and doc == copied
    assert "SECRET" not in json.dumps(doc) and doc["properties"]["storageAccount"]["key"] == R.MASK


# --- ARM definitions without deep copies ---------------------------------------------------------


def arm_doc() -> dict[str, Any]:
    return {
        "location": "South Central US", "tags": {"t": "1"},
        "properties": {
            "title": "t", "packageType": "Graph",
            "assets": {"m": {"name": "Model [trained model]", "type": "Resource", "locationInfo": {"uri": "https://a.blob.core.windows.net/c/old.ilearner"}},
                       "mod": {"name": "Module", "type": "Module", "locationInfo": {"uri": "aml://module/1"}}},
            "package": {"nodes": {"n1": {"assetId": "mod", "parameters": {"Script": {"value": {"free": ["form", {"x": 1}]}}}}},
                        "edges": [], "graphParameters": {}},
            "exampleRequest": {"inputs": {"input1": [["1", None]]}},
        },
    }


def containers(obj: Any) -> list[int]:
    out = []
    if isinstance(obj, dict):
        out.append(id(obj))
        for v in obj.values():
            out += containers(v)
    elif isinstance(obj, list):
        out.append(id(obj))
        for v in obj:
            out += containers(v)
    return out


def test_export_document_shares_no_container_with_its_input():
    doc = arm_doc()
    before = copy.deepcopy(doc)
    out = defs.export_document(doc)
    assert doc == before
    assert not set(containers(out)) & set(containers(doc))
    out["properties"]["package"]["nodes"]["n1"]["parameters"]["Script"]["value"]["free"].append("changed")
    assert doc == before


def test_patch_ilearner_copies_the_path_and_leaves_the_input_alone():
    doc = arm_doc()
    before = copy.deepcopy(doc)
    uri = "https://a.blob.core.windows.net/c/new.ilearner"
    out, asset_id = defs.patch_ilearner(doc, ModelLocation.from_uri(uri))
    assert asset_id == "m" and doc == before
    assert out["properties"]["assets"]["m"]["locationInfo"]["uri"] == uri
    assert out["properties"]["assets"]["mod"] == doc["properties"]["assets"]["mod"]
    for a, b in ((out, doc), (out["properties"], doc["properties"]), (out["properties"]["assets"], doc["properties"]["assets"]),
                 (out["properties"]["assets"]["m"], doc["properties"]["assets"]["m"])):
        assert a is not b
    assert out["properties"]["package"] is doc["properties"]["package"]  # the big part is shared, not copied


def test_many_registered_secrets_are_masked_as_with_few():
    """Past a few dozen secrets redact() scans the text against a prefix index instead of
    searching for every secret: the result must be the same."""
    import random

    rnd = random.Random(7)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    secrets = ["".join(rnd.choice(alphabet) for _ in range(rnd.choice((6, 9, 44, 88)))) for _ in range(400)]
    for value in secrets:
        R.register_secret(value)
    filler = ["plain ", "https://acct.blob.core.windows.net/c/b.ilearner?sv=2020&se=2030 ", "é", "{\"Name\": \"x\"} "]
    for _ in range(200):
        picked = [rnd.choice(secrets) if rnd.random() < 0.4 else rnd.choice(filler) for _ in range(rnd.randint(0, 12))]
        text = " ".join(picked)
        masked = R.redact(text)
        assert masked == reference_redact(text)
        assert not any(value in masked for value in picked if value in secrets)
    # a secret that is a prefix of a longer one: the longer one is masked whole
    R.register_secret("PREFIXabcdefgh")
    R.register_secret("PREFIXabcdefgh-and-more")
    assert R.redact("x PREFIXabcdefgh-and-more y PREFIXabcdefgh z") == "x *** y *** z"


def test_durable_writes_fsync_file_and_folder_and_non_durable_ones_do_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``durable=False`` (history outcome files) stays atomic but skips both fsyncs."""
    from amlws.fsutil import atomic_write_bytes

    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    atomic_write_bytes(tmp_path / "a.json", b"1")
    assert len(calls) == (2 if os.name == "posix" else 1)  # the file, then (POSIX) its folder
    calls.clear()
    atomic_write_bytes(tmp_path / "a.json", b"2", durable=False)
    assert calls == [] and (tmp_path / "a.json").read_bytes() == b"2"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary file left


def test_history_fsyncs_the_revision_and_its_folder_but_not_the_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from amlws.safety.history import History

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        real_fsync(fd)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to tell files from folders")
    monkeypatch.setattr(os, "fsync", fsync)
    h = History(tmp_path)
    entry = h.record("/t/x", "arm", {"properties": {}}, action="update")
    assert synced == ["file", "dir"]
    synced.clear()
    h.mark("/t/x", entry["revision"], "applied")
    assert synced == [] and h.list("/t/x")[0]["status"] == "applied"
