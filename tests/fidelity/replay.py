"""Replay recorded real ARM traffic (azure-powershell SessionRecords, see records/SOURCES.txt)
against the emulator, request by request, and list every difference a script could notice.

What is compared for each ``Microsoft.MachineLearning`` exchange of a recording:

- the status code;
- which ARM headers are present (LRO headers, request/correlation/routing ids, ratelimit);
- the shape of the LRO URLs (``Azure-AsyncOperation``, ``Location``) with host and ids masked;
- the JSON body's key structure, recursively, and the values of the fields a script reads
  (:data:`VALUE_FIELDS`), with GUIDs masked; timestamps by format only.

Operations are driven as recorded: before each PUT/PATCH/DELETE/POST the emulator's ``arm_lro``
transition is set to ``polls`` with as many ``Provisioning`` answers as the recording shows for
that operation, so the poll-by-poll statuses are comparable. The recorder stores entries grouped
by URL, so they are replayed in the order of their ``x-ms-routing-request-id`` timestamps (a status
poll first within the same second: the client polls, then reads).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORDS = Path(__file__).resolve().parent / "records"
SUBSCRIPTION = "d128f140-94e6-4175-87a7-954b9d27db16"
RESOURCE_GROUPS = ("onesdk6644", "onesdk7705")
TOKEN = "amlws-fidelity-replay-token"
SEED = {"armTokens": [TOKEN], "subscriptions": [{"id": SUBSCRIPTION, "resourceGroups": list(RESOURCE_GROUPS)}]}

#: headers whose presence is compared (names are case-insensitive)
HEADERS = ("Azure-AsyncOperation", "Azure-AsyncOperationPercentComplete", "Location", "Retry-After",
           "x-ms-request-id", "x-ms-correlation-request-id", "x-ms-routing-request-id",
           "x-ms-ratelimit-remaining-subscription-reads", "x-ms-ratelimit-remaining-subscription-writes",
           "x-ms-request-duration")
#: fields whose values are compared (everything else: presence and JSON type only)
VALUE_FIELDS = {"id", "name", "type", "location", "status", "provisioningState", "payloadsInBlobStorage", "title",
                "description", "maxConcurrentCalls", "primary", "secondary", "code", "message", "readOnly"}
TIME_FIELDS = {"startTime", "endTime", "createdOn", "modifiedOn"}
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
ARM_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
WRITES = ("PUT", "PATCH", "DELETE", "POST")


@dataclass(frozen=True)
class Difference:
    """One way the emulator answered differently: ``aspect`` is what :data:`ALLOWED` is keyed by."""

    record: str
    entry: int
    request: str
    aspect: str
    recorded: Any
    emulated: Any

    def __str__(self) -> str:
        return f"{self.record}#{self.entry} {self.request}: {self.aspect}: recorded {self.recorded!r}, emulator {self.emulated!r}"


def load(record: str) -> list[tuple[int, dict[str, Any]]]:
    """The ``Microsoft.MachineLearning`` exchanges of a recording, in replay order."""
    entries = json.loads((RECORDS / record).read_text(encoding="utf-8"))["Entries"]
    ml = [(i, e) for i, e in enumerate(entries) if "/providers/Microsoft.MachineLearning/" in e["RequestUri"]
          and "/CommitmentPlans/" not in e["RequestUri"]]

    def order(item: tuple[int, dict[str, Any]]) -> tuple[str, int, int]:
        i, e = item
        stamp = e["ResponseHeaders"]["x-ms-routing-request-id"][0].split(":")[1]
        return stamp, 0 if "/operationsStatus/" in e["RequestUri"] else 1, i

    return sorted(ml, key=order)


def _op_id(url: str) -> str:
    return GUID.findall(url.split("?")[0])[-1]


def _provisioning_polls(entries: list[tuple[int, dict[str, Any]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, e in entries:
        if "/operationsStatus/" in e["RequestUri"]:
            op = _op_id(e["RequestUri"])
            counts.setdefault(op, 0)
            if json.loads(e["ResponseBody"])["status"] == "Provisioning":
                counts[op] += 1
    return counts


def _header(headers: dict[str, Any], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v[0] if isinstance(v, list) else v
    return None


def _url_shape(url: str | None) -> str | None:
    if url is None:
        return None
    path = re.sub(r"^https?://[^/]+", "", url)
    return GUID.sub("<id>", path)


def _norm_ids(value: Any) -> Any:
    """GUIDs differ between the recording and the emulator: compare them as one placeholder."""
    return GUID.sub("<id>", value) if isinstance(value, str) else value


def _compare_json(recorded: Any, emulated: Any, path: str, out: list[tuple[str, Any, Any]]) -> None:
    if isinstance(recorded, dict) and isinstance(emulated, dict):
        for k in recorded.keys() - emulated.keys():
            out.append((f"missing key {path}{k}", "present", None))
        for k in emulated.keys() - recorded.keys():
            out.append((f"extra key {path}{k}", None, "present"))
        for k in recorded.keys() & emulated.keys():
            rv, ev = recorded[k], emulated[k]
            if k in TIME_FIELDS:
                if not (isinstance(ev, str) and ARM_TIME.match(ev)):
                    out.append((f"time format {path}{k}", rv, ev))
            elif k in VALUE_FIELDS and not isinstance(rv, (dict, list)):
                if _norm_ids(rv) != _norm_ids(ev):
                    out.append((f"value {path}{k}", rv, ev))
            else:
                _compare_json(rv, ev, f"{path}{k}.", out)
    elif isinstance(recorded, list) and isinstance(emulated, list):
        if len(recorded) != len(emulated):
            out.append((f"length {path.rstrip('.')}", len(recorded), len(emulated)))
        for i, (rv, ev) in enumerate(zip(recorded, emulated)):
            _compare_json(rv, ev, f"{path}{i}.", out)
    elif type(recorded) is not type(emulated) and not (isinstance(recorded, (int, float)) and isinstance(emulated, (int, float))):
        out.append((f"type {path.rstrip('.')}", type(recorded).__name__, type(emulated).__name__))


def compare(record: str, index: int, entry: dict[str, Any], status: int, headers: dict[str, str], body: bytes) -> list[Difference]:
    request = f"{entry['RequestMethod']} {_url_shape(entry['RequestUri'])}"
    diffs: list[tuple[str, Any, Any]] = []
    if entry["StatusCode"] != status:
        diffs.append(("status", entry["StatusCode"], status))
    for name in HEADERS:
        rec, emu = _header(entry["ResponseHeaders"], name), _header(headers, name)
        if (rec is None) != (emu is None):
            diffs.append((f"header {name}", rec is not None and "present", emu is not None and "present"))
        elif name in ("Azure-AsyncOperation", "Location") and _url_shape(rec) != _url_shape(emu):
            diffs.append((f"url {name}", _url_shape(rec), _url_shape(emu)))
    rec_body = json.loads(entry["ResponseBody"]) if entry["ResponseBody"] else None
    emu_body = json.loads(body) if body else None
    if (rec_body is None) != (emu_body is None):
        diffs.append(("body", rec_body is not None and "present", emu_body is not None and "present"))
    elif rec_body is not None:
        _compare_json(rec_body, emu_body, "", diffs)
    return [Difference(record, index, request, a, r, e) for a, r, e in diffs]


def replay(server: Any, record: str) -> list[Difference]:
    """Send the recording's ML requests to ``server`` (an :class:`EmulatorServer` seeded with
    :data:`SEED`); every difference found."""
    import requests

    entries = load(record)
    provisioning = _provisioning_polls(entries)
    session = requests.Session()
    session.trust_env = False
    ca = str(server.ca_path)
    op_urls: dict[str, str] = {}  # recorded operation id -> the emulator's status URL
    found: list[Difference] = []
    for index, e in entries:
        method, uri = e["RequestMethod"], e["RequestUri"]
        if "/operationsStatus/" in uri:
            url = op_urls[_op_id(uri)]
        else:
            url = server.url + uri
            if method in WRITES:
                rec_op = _header(e["ResponseHeaders"], "Azure-AsyncOperation")
                count = provisioning.get(_op_id(rec_op), 0) if rec_op else 0
                r = session.post(server.url + "/_emulator/transitions", json={"arm_lro": {"mode": "polls", "count": count}},
                                 verify=ca, timeout=30)
                assert r.status_code == 200, r.text
        data = e["RequestBody"].encode("utf-8") if e["RequestBody"] else None
        resp = session.request(method, url, data=data, verify=ca, timeout=60,
                               headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json; charset=utf-8"})
        rec_op = _header(e["ResponseHeaders"], "Azure-AsyncOperation")
        if rec_op and "/operationsStatus/" not in uri and resp.headers.get("Azure-AsyncOperation"):
            op_urls[_op_id(rec_op)] = resp.headers["Azure-AsyncOperation"]
        found += compare(record, index, e, resp.status_code, dict(resp.headers), resp.content)
    return found
