"""The bad-input catalogue: each bad input gives its documented message (docs/errors.md) and exit
code, through the real CLI, against the emulator's request log.

``local`` rows must send nothing at all and write nothing (no file, no history entry);
``remote`` rows are answered by the service (401, 404, 409, a failed long-running operation, a
timeout...): they may read, but must leave the service's definition and the files as they were.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amlws.emulator import seed as demo
from amlws.emulator.server import EmulatorServer

from .conftest import Http, arm_ws_path, in_process_cli

REPO = Path(__file__).resolve().parents[2]
ERRORS_MD = REPO / "docs" / "errors.md"
RID = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
MISSING_RID = arm_ws_path("no-such-service")
GOOD_URI = "https://acct.blob.core.windows.net/models/new.ilearner?sv=2020-02-10&sp=r&se=2099-01-01&sig=GOODSIG"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(seed="demo", cert_dir=tmp_path_factory.mktemp("certs")) as s:
        yield s


@pytest.fixture
def http(server: EmulatorServer) -> Iterator[Http]:
    h = Http(server)
    h.control("POST", "reset", {"seed": "demo"})  # faults, transitions, state and the request log
    yield h
    h.control("POST", "reset", {"seed": "demo"})


def classic_urls(server: EmulatorServer) -> dict[str, str]:
    svc = f"{server.url}/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_PREDICTIVE_SERVICE}"
    return {"SVC": svc, "EP": f"{svc}/endpoints/{demo.DEMO_ENDPOINT}", "DEFAULT_EP": f"{svc}/endpoints/default"}


@pytest.fixture(scope="module")
def files(server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Definition files: a good ARM export and classic export, and bad variants of them."""
    d = tmp_path_factory.mktemp("defs")
    h = Http(server)
    auth = {"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}
    from amlws.plugins.arm.definition import export_document

    good = export_document(h.get(RID, params={"api-version": "2017-01-01"}, headers=auth).json(), include_keys=False)
    ep = h.get(classic_urls(server)["EP"], headers={"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}).json()
    ep = {k: v for k, v in ep.items() if k not in ("PrimaryKey", "SecondaryKey")}
    out: dict[str, Path] = {}

    def put(name: str, content: Any) -> None:
        p = d / name
        p.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        out[name] = p

    put("good.json", good)
    put("classic.json", ep)
    put("bad.json", '{"properties": {"title": "x",}}')
    put("empty.json", "  \n")
    put("array.json", [1, 2])
    code = copy.deepcopy(good)
    code["properties"]["packageType"] = "Code"
    put("code.json", code)
    schema = copy.deepcopy(good)
    schema["properties"]["realtimeConfiguration"] = {"maxConcurrentCalls": "many"}
    put("schema.json", schema)
    old = copy.deepcopy(good)
    old["properties"]["parameters"] = {"Database query": "select * from t"}
    put("old.json", old)
    two = copy.deepcopy(good)
    assets = two["properties"]["assets"]
    tm = next(k for k, a in assets.items() if "[trained model]" in a.get("name", ""))
    assets["asset99"] = {**copy.deepcopy(assets[tm]), "name": "Second [trained model]"}
    put("two.json", two)
    none = copy.deepcopy(good)
    del none["properties"]["assets"][tm]
    put("nomodel.json", none)
    storage = copy.deepcopy(good)
    storage["properties"]["storageAccount"] = {"name": "otheraccount"}
    put("storage.json", storage)
    (d / "adir").mkdir()
    out["adir"] = d / "adir"
    return out


@pytest.fixture
def cli(server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    for name in list(os.environ):
        if name.startswith("AMLWS_") or name.startswith("AZURE_") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    for k, v in {**server.env(), "AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config"),
                 "AMLWS_POLL_INTERVAL": "0.02",
                 "AMLWS_CHECK_MODEL": "0"}.items():  # invented storage hosts: see tests/conftest.py
        monkeypatch.setenv(k, v)
    return in_process_cli(capsys)


#: id, command line, environment changes, expected exit code, message fragment (in docs/errors.md).
#: {RID} {MISSING_RID} {SVC} {EP} {DEFAULT_EP} {F:name} {OUT} are filled in by the test.
LOCAL: list[tuple[str, list[str], dict[str, str | None], int, str]] = [
    ("malformed-json", ["update", "{RID}", "--service-updates", "{F:bad.json}", "--yes"], {}, 2, "malformed JSON at line"),
    ("empty-definition", ["update", "{RID}", "--service-updates", "{F:empty.json}", "--yes"], {}, 2, "empty definition"),
    ("wrong-shape", ["import", "-i", "{F:array.json}"], {}, 2, "no backend recognises this definition format"),
    ("unsupported-package-type", ["update", "{RID}", "--service-updates", "{F:code.json}", "--yes"], {}, 2, "unsupported packageType"),
    ("schema-violation", ["import", "-i", "{F:schema.json}"], {}, 2, "invalid web service definition"),
    ("old-parameter-format", ["import", "-i", "{F:old.json}"], {}, 0, "old string-valued parameter converted"),
    ("ambiguous-trained-model", ["patch-ilearner", "{F:two.json}", "--uri", GOOD_URI, "-f", "{OUT}"], {}, 2,
     "several trained-model assets"),
    ("missing-trained-model", ["patch-ilearner", "{F:nomodel.json}", "--uri", GOOD_URI, "-f", "{OUT}"], {}, 3,
     "no trained-model asset"),
    ("unknown-asset", ["patch-ilearner", "{F:good.json}", "--uri", GOOD_URI, "--asset", "nope", "-f", "{OUT}"], {}, 3, "no asset '"),
    ("not-ilearner", ["patch-ilearner", "{F:good.json}", "--uri", "https://acct.blob.core.windows.net/m/model.csv", "-f", "{OUT}"],
     {}, 2, "does not name an .ilearner"),
    ("expired-sas", ["patch-ilearner", "{F:good.json}", "--uri",
                     "https://acct.blob.core.windows.net/m/new.ilearner?se=2001-01-01&sp=r&sig=OLDSIG", "-f", "{OUT}"], {}, 2,
     "SAS token expired"),
    ("read-less-sas", ["patch-ilearner", "{F:good.json}", "--uri",
                       "https://acct.blob.core.windows.net/m/new.ilearner?se=2099-01-01&sp=w&sig=WSIG", "-f", "{OUT}"], {}, 2,
     "does not grant read"),
    ("two-model-sources", ["patch-ilearner", "{F:good.json}", "--uri", GOOD_URI, "--bes-result", '{"Results": {}}', "-f", "{OUT}"],
     {}, 2, "exactly one of --uri, --bes-result"),
    ("bes-result-without-results", ["patch-ilearner", "{F:good.json}", "--bes-result", '{"StatusCode": "Finished"}', "-f", "{OUT}"],
     {}, 2, "the BES result has no Results"),
    ("default-endpoint-patch", ["update", "{DEFAULT_EP}", "--service-updates", "{F:classic.json}", "--yes"], {}, 2,
     "cannot patch the default endpoint"),
    ("definition-of-other-backend", ["update", "{EP}", "--service-updates", "{F:good.json}", "--yes"], {}, 2, "not a definition of the classic backend"),
    ("bad-endpoint-name", ["classic", "endpoints", "add", "{SVC}/endpoints/EP-1", "--yes"], {}, 2, "1-24 lowercase letters or digits"),
    ("max-concurrent-calls", ["classic", "endpoints", "add", "{SVC}/endpoints/ep9", "--throttle-level", "High",
                              "--max-concurrent-calls", "500", "--yes"], {}, 2, "between 1 and 200"),
    ("unknown-location", ["classic", "endpoints", "add", "--workspace", demo.DEMO_WORKSPACE, "--service", demo.DEMO_PREDICTIVE_SERVICE,
                          "--endpoint", "ep9", "--location", "North Pole", "--yes"], {"AMLWS_CLASSIC_ENDPOINT": None}, 2,
     "unknown classic location"),
    ("invalid-workspace-id", ["classic", "endpoints", "list", "--workspace", "nothex", "--service", demo.DEMO_PREDICTIVE_SERVICE],
     {}, 2, "invalid workspace id"),
    ("bad-resource-id", ["get", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.MachineLearning/webServices"], {}, 2,
     "not a Microsoft.MachineLearning/webServices resource ID"),
    ("missing-arm-credentials", ["get", "{RID}"], {"AMLWS_ARM_TOKEN": None, "AMLWS_CREDENTIAL": "service-principal"}, 4,
     "service-principal login needs"),
    ("missing-workspace-token", ["classic", "endpoints", "list", "{SVC}"], {"AMLWS_WORKSPACE_TOKEN": None, "AMLWS_API_KEY": None},
     4, "no workspace token configured"),
    ("unknown-cloud", ["get", "{RID}"], {"AMLWS_CLOUD": "Mars"}, 2, "unknown cloud"),
    ("non-https-arm-endpoint", ["get", "{RID}"], {"AMLWS_ARM_ENDPOINT": "http://management.example.com"}, 2, "the ARM endpoint must be https"),
    ("missing-ca-bundle", ["classic", "endpoints", "list", "{SVC}"], {"AMLWS_CA_BUNDLE": "/no/such/ca.pem"}, 2, "CA bundle not found"),
    ("output-is-a-directory", ["import", "-i", "{F:good.json}", "-f", "{F:adir}"], {}, 2, "output path is a directory"),
    ("unwritable-output", ["patch-ilearner", "{F:good.json}", "--uri", GOOD_URI, "-f", "/proc/amlws-no/x.json"], {}, 2, "cannot write"),
    ("missing-definition-file", ["update", "{RID}", "--service-updates", "{F:good.json}.missing", "--yes"], {}, 3,
     "definition file not found"),
    ("missing-service-updates", ["update", "{RID}", "--yes"], {}, 2, "--service-updates FILE is required"),
    ("confirmation-needed", ["update", "{RID}", "--service-updates", "{F:good.json}"], {}, 2,
     "confirmation needed but stdin is not a terminal"),
    ("invalid-output-format", ["get", "{RID}", "-o", "yaml"], {}, 2, "invalid --output"),
    ("unknown-command", ["frobnicate"], {}, 2, "No such command"),
    ("unknown-revision", ["rollback", "{RID}", "--to", "99", "--yes"], {}, 3, "no history for"),
]


def fill(args: list[str], server: EmulatorServer, files: dict[str, Path], out: Path) -> list[str]:
    urls = classic_urls(server)
    res = []
    for a in args:
        a = a.replace("{RID}", RID).replace("{MISSING_RID}", MISSING_RID).replace("{OUT}", str(out))
        for k, v in urls.items():
            a = a.replace("{" + k + "}", v)
        if "{F:" in a:
            name = a[a.index("{F:") + 3:a.index("}")]
            a = a.replace("{F:" + name + "}", str(files[name]))
        res.append(a)
    return res


def snapshot(*dirs: Path) -> dict[str, str]:
    out = {}
    for d in dirs:
        if d.exists():
            for p in sorted(d.rglob("*")):
                if p.is_file():
                    out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def documented(fragment: str) -> bool:
    return fragment in ERRORS_MD.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", LOCAL, ids=[c[0] for c in LOCAL])
def test_local_bad_input(case, cli, http, server, files, tmp_path, monkeypatch):
    name, args, env, code, fragment = case
    for k, v in env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    out = tmp_path / "out.json"
    before = snapshot(files["good.json"].parent, tmp_path)
    http.control("DELETE", "requests")
    got, stdout, stderr = cli(*fill(args, server, files, out))
    assert (got, fragment in stderr) == (code, True), stderr
    assert documented(fragment), f"docs/errors.md does not document {fragment!r}"
    assert http.control("GET", "requests")["requests"] == [], "a bad input must send nothing"
    assert snapshot(files["good.json"].parent, tmp_path) == before, "a bad input must write nothing"
    if code:
        assert stdout == ""
        assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("error: ")


def test_the_catalogue_has_at_least_25_distinct_bad_inputs():
    assert len({c[0] for c in LOCAL}) >= 25 and len({c[4] for c in LOCAL}) >= 25


# --- answered by the service: the definition is left as it was ---------------------------------------------


def arm_doc(http: Http, rid: str = RID) -> dict[str, Any]:
    return http.get(rid, params={"api-version": "2017-01-01"}, headers={"Authorization": f"Bearer {demo.DEMO_ARM_TOKEN}"}).json()


def uri_of(doc: dict[str, Any]) -> str:
    return next(a["locationInfo"]["uri"] for a in doc["properties"]["assets"].values() if "[trained model]" in a.get("name", ""))


@pytest.fixture
def patched(cli, files, tmp_path) -> Path:
    out = tmp_path / "patched.json"
    code, _, err = cli("patch-ilearner", str(files["good.json"]), "--uri", GOOD_URI, "-f", str(out))
    assert code == 0, err
    return out


REMOTE = [
    # id, env, fault or transition, command kind, exit code, fragment
    ("http-401", {"AMLWS_ARM_TOKEN": "wrong-token-123456"}, None, "get", 4, "HTTP 401"),
    ("http-403", {}, {"kind": "status", "status": 403, "api": "arm", "operation": "WebServices_Get", "times": 1}, "get", 4, "HTTP 403"),
    ("http-404", {}, None, "get-missing", 3, "HTTP 404"),
    ("http-409", {}, {"kind": "status", "status": 409, "api": "arm", "operation": "WebServices_Patch", "times": 1}, "update", 5, "HTTP 409"),
    ("failed-lro", {}, {"kind": "lro_failure", "api": "arm", "code": "InternalServerError", "message": "injected failure"},
     "update", 1, "ended Failed"),
    ("timeout", {}, "slow", "update-timeout", 1, "did not finish within"),
]


@pytest.mark.parametrize("case", REMOTE, ids=[c[0] for c in REMOTE])
def test_remote_failure_leaves_the_service_as_it_was(case, cli, http, patched, tmp_path, monkeypatch):
    name, env, fault, kind, code, fragment = case
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    before = uri_of(arm_doc(http))
    if fault == "slow":
        http.control("POST", "transitions", {"arm_lro": {"mode": "time", "seconds": 30}})
    elif fault:
        http.control("POST", "faults", fault)
    files_before = snapshot(tmp_path)
    args = {"get": ["get", RID], "get-missing": ["get", MISSING_RID],
            "update": ["update", RID, "--service-updates", str(patched), "--yes"],
            "update-timeout": ["--timeout", "1", "update", RID, "--service-updates", str(patched), "--yes"]}[kind]
    got, stdout, stderr = cli(*args)
    assert (got, fragment in stderr) == (code, True), stderr
    assert documented(fragment)
    # one error line, last; before it only the progress of the long-running operation ("update X: State (Ns)")
    *progress, last = stderr.splitlines()
    assert stdout == "" and last.startswith("error: ")
    assert all(re.fullmatch(r"[^:]+: \w+ \(\d+s\)", line) for line in progress), stderr
    if fault == "slow":
        http.control("POST", "transitions", {"arm_lro": {"mode": "polls", "count": 1, "seconds": 0}})
        # the emulator finishes the change later by itself; it is in history, marked failed
        code2, out2, _ = cli("history", RID, "-o", "json")
        assert [r["status"] for r in json.loads(out2)] == ["failed"]
        return
    assert uri_of(arm_doc(http)) == before
    after = {k: v for k, v in snapshot(tmp_path).items() if "/state/" not in k}
    assert after == {k: v for k, v in files_before.items() if "/state/" not in k}
    if kind == "update":  # the attempt is in history, marked failed, with the definition from before
        code2, out2, _ = cli("history", RID, "--revision", "1", "-o", "json")
        entry = json.loads(out2)
        assert entry["status"] == "failed" and uri_of(entry["definition"]) == before


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_interrupted_update_exits_130_and_history_says_interrupted(server, http, patched, tmp_path):
    http.control("POST", "transitions", {"arm_lro": {"mode": "time", "seconds": 30}})
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AMLWS_")}, **server.env(),
           "AMLWS_STATE_DIR": str(tmp_path / "state2"), "AMLWS_CONFIG_DIR": str(tmp_path / "config2"), "AMLWS_POLL_INTERVAL": "0.05"}
    http.control("DELETE", "requests")
    proc = subprocess.Popen([sys.executable, "-c", "from amlws.cli.application import main; main()", "update", RID, "--service-updates",
                             str(patched), "--yes"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while "WebServices_Patch" not in [r["operation"] for r in http.control("GET", "requests")["requests"]]:
            assert time.monotonic() < deadline, "no PATCH sent"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and documented("error: interrupted")
    # the PATCH was accepted and ARM carries on: the one error line says how to check and undo it
    assert err.splitlines()[-1] == (f"error: interrupted (fix: the change may still complete on the service: "
                                    f"check it with amlws get {RID}; amlws rollback {RID} undoes it)")
    hist = subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", "history", RID, "-o", "json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert [r["status"] for r in json.loads(hist.stdout)] == ["interrupted"]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_disk_full_leaves_the_old_file_intact(files, tmp_path):
    """Writing fails part-way (a file-size limit stands in for a full disk): exit 1, the old file untouched."""
    import resource

    out = tmp_path / "patched.json"
    out.write_text('{"old": true}\n', encoding="utf-8")

    def limit() -> None:  # runs in the child only
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AMLWS_")},
           "AMLWS_STATE_DIR": str(tmp_path / "state"), "AMLWS_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, "-c", "from amlws.cli.application import main; main()", "patch-ilearner", str(files["good.json"]),
                           "--uri", GOOD_URI, "-f", str(out), "--yes"], env=env, capture_output=True, text=True, timeout=60,
                          preexec_fn=limit)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: cannot write") and "free disk space" in done.stderr and documented("cannot write")
    assert out.read_text(encoding="utf-8") == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".patched")] == []  # no temporary file left


@pytest.mark.parametrize("how, fragment", [("failed", "failed: Module: Train Model; Error: injected"), ("cancelled", "was cancelled")])
def test_failed_or_cancelled_bes_job_exits_1_with_the_reason(how, fragment, cli, http, server):
    train = http.get(f"/workspaces/{demo.DEMO_WORKSPACE}/webservices/{demo.DEMO_TRAINING_SERVICE}/endpoints/default",
                     headers={"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}).json()["ApiLocation"]
    url = train + "/jobs"
    cs = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    if how == "failed":
        http.control("POST", "faults", {"kind": "bes_failure", "api": "bes", "message": "injected training failure"})
    else:
        http.control("POST", "transitions", {"bes": {"mode": "polls", "count": 100000}})
    code, out, err = cli("jobs", "submit", "--url", url, "-o", "json", "--job-config-string",
                         json.dumps({"Inputs": {"input1": {"ConnectionString": cs, "RelativeLocation": "c/in.csv"}}}))
    assert code == 0, err
    job_id = json.loads(out)["jobId"]
    if how == "cancelled":
        assert cli("jobs", "cancel", "--url", url, job_id, "--yes")[0] == 0
    else:
        assert cli("jobs", "start", "--url", url, job_id)[0] == 0
    code, out, err = cli("jobs", "wait", "--url", url, job_id, "--poll-interval", "0.05")
    assert code == 1 and fragment in err, err
    assert documented("BES job ... failed") and documented("was cancelled")
    assert "AccountKey=a2V5" not in err
