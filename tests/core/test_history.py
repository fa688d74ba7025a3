import json
import threading

import pytest

from amlws.errors import NotFoundError
from amlws.history import History, target_folder_name

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
