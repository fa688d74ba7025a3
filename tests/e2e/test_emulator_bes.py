"""BES jobs that really train on Azurite data, and RRS scoring with whatever model is referenced now."""

from __future__ import annotations

import csv
import io
import random
import time

import pytest

from amlws.emulator import seed as demo

from .conftest import API, arm_ws_path

WS = f"/workspaces/{demo.DEMO_WORKSPACE}/webservices"
TOKEN = {"Authorization": f"Bearer {demo.DEMO_WORKSPACE_TOKEN}"}
KEY = {"Authorization": f"Bearer {demo.DEMO_API_KEY}"}
BES = {"api-version": "2.0"}
ROWS = {"Inputs": {"input1": {"ColumnNames": ["temperature", "humidity"], "Values": [["10", "60"], ["25", "40"]]}}, "GlobalParameters": {}}


def bike_csv(n: int = 80, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["temperature", "humidity", "rentals"])
    for _ in range(n):
        t, h = rnd.uniform(-5, 35), rnd.uniform(20, 95)
        w.writerow([f"{t:.1f}", f"{h:.0f}", f"{30 + 12 * t - 1.5 * h + rnd.gauss(0, 8):.0f}"])
    return buf.getvalue().encode()


def upload(azurite, container: str, name: str, data: bytes) -> None:
    with azurite.service() as svc:
        cc = svc.get_container_client(container)
        if not cc.exists():
            cc.create_container()
        cc.upload_blob(name, data, overwrite=True)


def endpoint(http, svc: str, name: str = "default") -> dict:
    return http.get(f"{WS}/{svc}/endpoints/{name}", headers=TOKEN).json()


def run_job(http, api_location: str, body: dict) -> tuple[str, list[dict]]:
    r = http.post(api_location + "/jobs", params=BES, headers=KEY, json=body)
    assert r.status_code == 200, r.text
    job = r.json()
    assert isinstance(job, str) and len(job) == 32
    seen = [http.get(f"{api_location}/jobs/{job}", params=BES, headers=KEY).json()]
    assert seen[0]["StatusCode"] == "NotStarted" and seen[0]["Results"] is None
    assert http.post(f"{api_location}/jobs/{job}/start", params=BES, headers=KEY).status_code == 200
    for _ in range(200):
        s = http.get(f"{api_location}/jobs/{job}", params=BES, headers=KEY).json()
        seen.append(s)
        if s["StatusCode"] in ("Finished", "Failed", "Cancelled"):
            break
    return job, seen


def score(http, api_location: str) -> list[float]:
    r = http.post(api_location + "/execute", params={**BES, "details": "true"}, headers=KEY, json=ROWS)
    assert r.status_code == 200, r.text
    out = r.json()["Results"]["output1"]
    assert out["type"] == "DataTable" and out["value"]["ColumnNames"][-1] == "Scored Labels"
    return [float(row[-1]) for row in out["value"]["Values"]]


def read(ref: dict) -> bytes:
    from azure.storage.blob import BlobClient

    url = ref["BaseLocation"].rstrip("/") + "/" + ref["RelativeLocation"] + ref["SasBlobToken"]
    return BlobClient.from_blob_url(url).download_blob().readall()


def test_classic_retrain_job_and_patch_change_predictions(shttp, azurite, azurite_container):
    http = shttp
    upload(azurite, azurite_container, "train/bikes.csv", bike_csv())
    train_api = endpoint(http, demo.DEMO_TRAINING_SERVICE)["ApiLocation"]
    target = endpoint(http, demo.DEMO_PREDICTIVE_SERVICE, demo.DEMO_ENDPOINT)
    before = score(http, target["ApiLocation"])
    assert before == [100 + 40 - 30, 100 + 100 - 20]  # the seeded model
    body = {"Inputs": {"input1": {"ConnectionString": azurite.connection_string, "RelativeLocation": f"{azurite_container}/train/bikes.csv"}},
            "Outputs": {"output1": {"ConnectionString": azurite.connection_string, "RelativeLocation": f"{azurite_container}/out/model.ilearner"},
                        "output2": {"ConnectionString": azurite.connection_string, "RelativeLocation": f"{azurite_container}/out/eval.csv"}},
            "GlobalParameters": {}}
    job, seen = run_job(http, train_api, body)
    codes = [s["StatusCode"] for s in seen]
    assert codes[0] == "NotStarted" and codes[1] == "Running" and codes[-1] == "Finished", seen[-1]
    results = seen[-1]["Results"]
    assert set(results) == {"output1", "output2"} and seen[-1]["Details"] is None
    model_ref = results["output1"]
    assert model_ref["ConnectionString"] is None
    assert model_ref["BaseLocation"] == f"http://127.0.0.1:{azurite.port}/devstoreaccount1/"
    assert model_ref["RelativeLocation"] == f"{azurite_container}/out/model.ilearner"
    assert model_ref["SasBlobToken"].startswith("?") and "sp=r" in model_ref["SasBlobToken"] and "sig=" in model_ref["SasBlobToken"]
    import json

    model = json.loads(read(model_ref))
    assert model["format"] == "amlws-emulator-ilearner" and abs(model["coefficients"]["temperature"] - 12) < 1.5
    metrics = list(csv.DictReader(io.StringIO(read(results["output2"]).decode())))
    assert list(metrics[0]) == ["Mean Absolute Error", "Root Mean Squared Error", "Relative Absolute Error",
                                "Relative Squared Error", "Coefficient of Determination"]
    assert float(metrics[0]["Coefficient of Determination"]) > 0.8
    # point the non-default endpoint at the new model (docs' PATCH body), then scores change
    patch = {"Resources": [{"Name": target["Resources"][0]["Name"],
                            "Location": {k: model_ref[k] for k in ("BaseLocation", "RelativeLocation", "SasBlobToken")}}]}
    mgmt = f"{WS}/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/{demo.DEMO_ENDPOINT}"
    assert http.patch(mgmt, headers=KEY, json=patch).status_code == 200
    after = score(http, target["ApiLocation"])
    assert after != before and abs(after[1] - (30 + 12 * 25 - 1.5 * 40)) < 15
    # the default endpoint keeps the experiment's model
    assert score(http, endpoint(http, demo.DEMO_PREDICTIVE_SERVICE)["ApiLocation"]) == before


def test_arm_services_train_with_default_outputs_and_score_with_the_asset(shttp, azurite, azurite_container, arm_headers):
    http = shttp
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    upload(azurite, azurite_container, "bikes.csv", bike_csv(seed=3))
    sas = generate_blob_sas("devstoreaccount1", azurite_container, "bikes.csv",
                            account_key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
                            permission=BlobSasPermissions(read=True),
                            expiry=__import__("datetime").datetime.now(__import__("datetime").timezone.utc) + __import__("datetime").timedelta(hours=1))
    state = http.control("GET", "state")["arm_service"]
    locs = {d["resource"]["name"]: f"{http.url}/subscriptions/{demo.DEMO_SUBSCRIPTION.replace('-', '')}/services/{d['serviceId']}"
            for d in state.values()}
    body = {"Inputs": {"input1": {"BaseLocation": azurite.blob_endpoint + "/", "RelativeLocation": f"{azurite_container}/bikes.csv",
                                  "SasBlobToken": "?" + sas}}, "GlobalParameters": {}}
    _, seen = run_job(http, locs[demo.DEMO_ARM_TRAINING], body)
    assert seen[-1]["StatusCode"] == "Finished", seen[-1]
    res = seen[-1]["Results"]["output1"]
    assert res["RelativeLocation"].startswith("experimentoutput/") and res["RelativeLocation"].endswith(".ilearner")
    assert seen[-1]["Results"]["output2"]["RelativeLocation"].endswith(".csv")
    before = score(http, locs[demo.DEMO_ARM_PREDICTIVE])
    # the walkthrough: GET, replace the [trained model] asset's uri, PATCH, poll
    path = arm_ws_path(demo.DEMO_ARM_PREDICTIVE)
    doc = http.get(path, params=API, headers=arm_headers).json()
    asset = next(k for k, a in doc["properties"]["assets"].items() if a["name"] == demo.DEMO_RESOURCE_NAME)
    # the walkthrough's form: BaseLocation + RelativeLocation, no SAS; the service reads its own storage account
    uri = res["BaseLocation"] + res["RelativeLocation"]
    r = http.patch(path, params=API, headers=arm_headers, json={"properties": {
        "packageType": "Graph", "assets": {asset: {"name": demo.DEMO_RESOURCE_NAME, "type": "Resource", "locationInfo": {"uri": uri}}}}})
    assert r.status_code == 200
    assert score(http, locs[demo.DEMO_ARM_PREDICTIVE]) == before  # not applied until the operation succeeds
    while http.get(r.headers["Azure-AsyncOperation"], headers=arm_headers).json()["status"] == "Provisioning":
        time.sleep(0.05)  # a poll loop without a wait is throttled by ARM's read bucket, as on Azure
    assert score(http, locs[demo.DEMO_ARM_PREDICTIVE]) != before


def test_bes_request_errors(shttp):
    http = shttp
    api = endpoint(http, demo.DEMO_TRAINING_SERVICE)["ApiLocation"]
    inp = {"input1": {"ConnectionString": "x", "RelativeLocation": "c/in.csv"}}

    def err(body):
        r = http.post(api + "/jobs", params=BES, headers=KEY, json=body)
        assert r.status_code == 400, r.text
        return r.json()["error"]["details"][0]

    d = err({"Inputs": inp, "Outputs": {"output1": {"ConnectionString": "x", "RelativeLocation": "vishal/training/input"}}})
    assert d["code"] == "InvalidBlobExtension"
    assert d["message"] == ('The blob reference: vishal/training/input has an invalid or missing file extension. '
                            'Supported file extensions for this output type are: ".ilearner".')
    assert err({"Inputs": inp, "Outputs": {"Output1": {"RelativeLocation": "c/m.ilearner"}}})["code"] == "InvalidOutputOverrideName"
    assert err({"Inputs": inp, "Input": inp["input1"]})["code"] == "DuplicateInputInBatchCall"
    r = http.post(api + "/jobs", params=BES, headers={"Authorization": "Bearer wrong"}, json={"Inputs": inp})
    assert r.status_code == 401 and r.json()["error"]["details"][0]["code"] == "ScoreRequestUnauthorized"
    r = http.post(api + "/execute", params=BES, headers=KEY, json=ROWS)
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadArgument"  # RRS cannot train


def test_failed_job_details_integer_codes_and_cancel(shttp, azurite, azurite_container):
    http = shttp
    api = endpoint(http, demo.DEMO_TRAINING_SERVICE)["ApiLocation"]
    upload(azurite, azurite_container, "bad.csv", b"temperature,humidity\n1,2\n")
    body = {"Inputs": {"input1": {"ConnectionString": azurite.connection_string, "RelativeLocation": f"{azurite_container}/bad.csv"}}}
    _, seen = run_job(http, api, body)
    assert seen[-1]["StatusCode"] == "Failed" and seen[-1]["Results"] is None
    assert "rentals" in seen[-1]["Details"] and seen[-1]["Details"].startswith("Module: Train Model")
    http.control("POST", "config", {"bes_status_format": "integers"})
    http.control("POST", "faults", {"kind": "bes_failure", "times": 1, "message": "injected"})
    upload(azurite, azurite_container, "ok.csv", bike_csv())
    ok = {"Inputs": {"input1": {"ConnectionString": azurite.connection_string, "RelativeLocation": f"{azurite_container}/ok.csv"}}}
    job = http.post(api + "/jobs", params=BES, headers=KEY, json=ok).json()
    http.post(f"{api}/jobs/{job}/start", params=BES, headers=KEY)
    codes = []
    while not codes or codes[-1] not in (2, 3, 4):
        codes.append(http.get(f"{api}/jobs/{job}", params=BES, headers=KEY).json()["StatusCode"])
    assert codes[0] == 1 and codes[-1] == 2
    r = http.post(f"{api}/jobs/{job}/start", params=BES, headers=KEY)
    assert r.status_code == 400 and r.json()["error"]["details"][0]["code"] == "CannotStartJob"
    job2 = http.post(api + "/jobs", params=BES, headers=KEY, json=ok).json()
    http.post(f"{api}/jobs/{job2}/start", params=BES, headers=KEY)
    assert http.delete(f"{api}/jobs/{job2}", params=BES, headers=KEY).status_code == 200
    assert http.get(f"{api}/jobs/{job2}", params=BES, headers=KEY).json()["StatusCode"] == 3


@pytest.mark.parametrize("fmt", ["swagger", None])
def test_rrs_formats(http, fmt):
    api = endpoint(http, demo.DEMO_PREDICTIVE_SERVICE, demo.DEMO_ENDPOINT)["ApiLocation"]
    if fmt == "swagger":
        r = http.post(api + "/execute", params={**BES, "format": "swagger"}, headers=KEY,
                      json={"Inputs": {"input1": [{"temperature": 10, "humidity": 60}]}, "GlobalParameters": {}})
        assert r.json() == {"Results": {"output1": [{"temperature": "10", "humidity": "60", "Scored Labels": "110.0"}]}}
    else:
        r = http.post(api + "/execute", params={**BES, "details": "true"}, headers=KEY,
                      json={"Inputs": {"input1": {"ColumnNames": ["temperature"], "Values": [["1"]]}}})
        assert r.status_code == 400 and "humidity" in r.json()["error"]["details"][0]["message"]


def test_batch_scoring_job_on_a_predictive_endpoint(shttp, azurite, azurite_container):
    http = shttp
    upload(azurite, azurite_container, "rows.csv", b"temperature,humidity\n10,60\n25,40\n")
    api = endpoint(http, demo.DEMO_PREDICTIVE_SERVICE, demo.DEMO_ENDPOINT)["ApiLocation"]
    out = f"{azurite_container}/scored.csv"
    body = {"Inputs": {"input1": {"ConnectionString": azurite.connection_string, "RelativeLocation": f"{azurite_container}/rows.csv"}},
            "Outputs": {"output1": {"ConnectionString": azurite.connection_string, "RelativeLocation": out}}}
    r = http.post(api + "/jobs", params=BES, headers=KEY,
                  json={**body, "Outputs": {"output1": {"ConnectionString": "x", "RelativeLocation": f"{azurite_container}/m.ilearner"}}})
    assert r.status_code == 400 and '".csv, .tsv, .arff"' in r.json()["error"]["details"][0]["message"]
    _, seen = run_job(http, api, body)
    assert seen[-1]["StatusCode"] == "Finished", seen[-1]
    scored = list(csv.reader(io.StringIO(read(seen[-1]["Results"]["output1"]).decode())))
    assert scored == [["temperature", "humidity", "Scored Labels"], ["10", "60", "110.0"], ["25", "40", "180.0"]]


def test_classic_patch_delay_keeps_the_old_model_for_a_while(http):
    import time

    http.control("POST", "config", {"classic_patch_delay": 0.4})
    api = endpoint(http, demo.DEMO_PREDICTIVE_SERVICE, demo.DEMO_ENDPOINT)["ApiLocation"]
    before = score(http, api)
    loc = http.control("POST", "models", {"model": {"format": "amlws-emulator-ilearner", "version": 1, "algorithm": "linear_regression",
                                                    "label": "rentals", "features": ["temperature", "humidity"], "intercept": 0.0,
                                                    "coefficients": {"temperature": 1.0, "humidity": 0.0}}})
    mgmt = f"{WS}/{demo.DEMO_PREDICTIVE_SERVICE}/endpoints/{demo.DEMO_ENDPOINT}"
    assert http.patch(mgmt, headers=KEY, json={"Resources": [{"Name": demo.DEMO_RESOURCE_NAME, "Location": loc}]}).status_code == 200
    assert http.get(mgmt, headers=KEY).json()["Resources"][0]["Location"] == loc  # GET shows it at once
    assert score(http, api) == before  # ... but scoring still uses the old model
    time.sleep(0.45)
    assert score(http, api) == [10.0, 25.0]
