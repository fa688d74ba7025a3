import json
import os
import threading

import pytest

from amlws.errors import NotFoundError
from amlws.safety.history import History, target_folder_name

TARGET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearning/webServices/svc"


def test_record_list_get_and_mark(tmp_path):
    h = History(tmp_path)
    doc = {"properties": {"keys": {"primary": "k1"}, "title": "t"}, "location": "West US"}
    e1 = h.record(TARGET, "arm", doc, action="update", request={"method": "PATCH", "url": "https://x?sig=abc"})
    e2 = h.record(TARGET, "arm", {"properties": {"title": "t2"}}, action="update")
    assert (e1["revision"], e2["revision"]) == (1, 2)
    h.mark(TARGET, 1, "applied")
    rows = h.list(TARGET)
    assert [r["revision"] for r in rows] == [1, 2]
    assert rows[0]["status"] == "applied"
    assert rows[1]["status"].startswith("unknown")
    first = h.get(TARGET, 1)
    assert first["definition"] == {"properties": {"title": "t"}, "location": "West US"}  # keys stripped
    assert "sig=abc" not in json.dumps(first)
    assert h.get(TARGET)["revision"] == 2


def test_revisions_are_never_overwritten_under_concurrency(tmp_path):
    h = History(tmp_path)
    threads = [threading.Thread(target=h.record, args=(TARGET, "arm", {"n": i}), kwargs={"action": "update"}) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    revs = [r["revision"] for r in h.list(TARGET)]
    assert revs == list(range(1, 21))
    assert sorted(h.get(TARGET, r)["definition"]["n"] for r in revs) == list(range(20))


def test_missing_history_and_revision(tmp_path):
    h = History(tmp_path)
    with pytest.raises(NotFoundError):
        h.get(TARGET)
    h.record(TARGET, "arm", {}, action="update")
    with pytest.raises(NotFoundError) as info:
        h.get(TARGET, 7)
    assert info.value.hint == "revisions: 1"


def test_folder_names_are_safe_and_distinct():
    a = target_folder_name("https://management.azureml.net/workspaces/w/webservices/s/endpoints/e1")
    b = target_folder_name("https://europewest.management.azureml.net/workspaces/w/webservices/s/endpoints/e1")
    assert a != b
    assert "/" not in a and ":" not in a


def test_change_marks_applied_failed_and_interrupted(tmp_path):
    from amlws.errors import OperationFailed

    h = History(tmp_path)
    with h.change(TARGET, "arm", {"v": 1}, action="update") as entry:
        entry["outcome"] = {"verified": True}
    with pytest.raises(OperationFailed), h.change(TARGET, "arm", {"v": 2}, action="update"):
        raise OperationFailed("the operation to update ended Failed")
    with pytest.raises(KeyboardInterrupt), h.change(TARGET, "arm", {"v": 3}, action="rollback"):
        raise KeyboardInterrupt
    rows = h.list(TARGET)
    assert [(r["revision"], r["action"], r["status"]) for r in rows] == [
        (1, "update", "applied"), (2, "update", "failed"), (3, "rollback", "interrupted")]
    assert h.status(TARGET, 1)["verified"] is True
    assert h.status(TARGET, 2)["error"] == "the operation to update ended Failed"


def test_change_that_changed_nothing_leaves_no_revision(tmp_path):
    h = History(tmp_path)
    with h.change(TARGET, "classic", {"v": 1}, action="endpoint-refresh") as entry:
        entry["unchanged"] = True
    assert h.list(TARGET) == [] and list(h.folder(TARGET).iterdir()) == []
    with h.change(TARGET, "classic", {"v": 1}, action="endpoint-refresh") as entry:
        entry["unchanged"] = False
    assert [(r["revision"], r["status"]) for r in h.list(TARGET)] == [(1, "applied")]


def test_history_masks_sas_and_storage_keys_but_keeps_the_rest(tmp_path):
    h = History(tmp_path)
    doc = {"properties": {"storageAccount": {"name": "acct", "key": "STORAGEKEY=="},
                          "assets": {"m": {"locationInfo": {"uri": "https://a/b.ilearner?sv=1&sp=r&sig=SIGVALUE"}}}},
           "Resources": [{"Location": {"SasBlobToken": "?sv=1&sig=OTHERSIG&se=2099-01-01", "ConnectionString": "AccountKey=K123456;"}}]}
    h.record(TARGET, "arm", doc, action="update")
    text = (h.folder(TARGET) / "000001.json").read_text()
    for secret in ("STORAGEKEY", "SIGVALUE", "OTHERSIG", "K123456"):
        assert secret not in text
    saved = h.get(TARGET, 1)["definition"]
    assert saved["properties"]["assets"]["m"]["locationInfo"]["uri"] == "https://a/b.ilearner?sv=1&sp=r&sig=***"
    assert saved["Resources"][0]["Location"]["SasBlobToken"] == "?sv=1&sig=***&se=2099-01-01"
    assert saved["properties"]["storageAccount"]["name"] == "acct"


def test_export_fingerprints(tmp_path):
    from amlws.safety.history import exported_fingerprint, record_export

    assert exported_fingerprint(TARGET, tmp_path) is None
    record_export(TARGET, "f" * 64, file="x.json", root=tmp_path)
    assert exported_fingerprint(TARGET, tmp_path) == "f" * 64
    record_export(TARGET, "0" * 64, root=tmp_path)
    assert exported_fingerprint(TARGET, tmp_path) == "0" * 64


def test_unmask_restores_unchanged_secrets_from_live_and_reports_lost_sas():
    from amlws.model import Definition
    from amlws.safety.rollback import is_masked, restore_masked, unmask

    live = {"uri": "https://a/m1.ilearner?sv=1&sig=LIVESIG", "Location": {"SasBlobToken": "?sv=1&sig=TOK"},
            "storageAccount": {"key": "SK123456"}, "title": "*** not a secret ***"}
    saved = {"uri": "https://a/m1.ilearner?sv=1&sig=***", "Location": {"SasBlobToken": "?sv=1&sig=***"},
             "storageAccount": {"key": "***"}, "title": "*** not a secret ***"}
    assert unmask(saved, live) == (live, [])
    other = {**saved, "uri": "https://a/m2.ilearner?sv=1&sig=***"}
    restored, lost = unmask(other, live)
    assert lost == ["uri"]
    restored, lost = unmask(other, live, sas_token="sv=2&sig=NEW")
    assert lost == [] and restored["uri"] == "https://a/m2.ilearner?sv=2&sig=NEW"
    assert not is_masked("*** not a secret ***") and is_masked("x?sig=***") and is_masked("***")
    d = restore_masked(Definition("arm", saved), Definition("arm", live))
    assert d.document == live
    with pytest.raises(Exception, match="masked SAS signatures"):
        restore_masked(Definition("arm", other), Definition("arm", live))


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_revision_and_status_files_are_private_and_leave_no_temporary_files(tmp_path):
    h = History(tmp_path)
    entry = h.record(TARGET, "arm", {"properties": {"title": "t"}}, action="update")
    h.mark(TARGET, entry["revision"], "applied", verified=True)
    folder = h.folder(TARGET)
    assert sorted(p.name for p in folder.iterdir()) == ["000001.json", "000001.status.json"]
    assert {oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {"0o600"}
    assert json.loads((folder / "000001.status.json").read_text())["status"] == "applied"
