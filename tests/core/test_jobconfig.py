"""Job configs: flags, files, strings, and validation before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amlws.errors import ExitCode, NotFoundError, UsageError
from amlws.studio.jobconfig import build_job_config, load_job_config, output_names_by_kind, parse_ref_spec, redacted, validate_job_config

CS = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0LWFjY291bnQta2V5"
SAS = "?sv=2019-02-02&sr=c&sig=c2lnbmF0dXJl&sp=rw"

# The README sample of azuremlps, verbatim (with its typos): REFERENCE.md §4.2.
README_TYPOS = """{
	"GolbalParameters": { "Random seed": 12345 },
	"Inputs": {
		"input1" : {
			"ConnetionString": "DefaultEndpointsProtocol=https;AccountName=mystorageaccount;AccountKey=mystorageaccountkey",
			"RelativeLocation": "mycontainer/input/input.csv"
		}
	},
	"Outputs": {
		"output1": {
			"ConnetionString": "DefaultEndpointsProtocol=https;AccountName=mystorageaccount;AccountKey=mystorageaccountkey",
			"RelativeLocation": "mycontainer/output/output.csv"
		}
	}
}"""

# docs create-models-and-endpoints $configContent (seq 001): correct spelling.
DOCS_CONFIG = (
    '{ "GlobalParameters": { "URI": "https://bostonmtc.blob.core.windows.net/hai/retrain/bike_rental/BikeRental001.csv" }, '
    '"Outputs": { "output1": { "ConnectionString": "DefaultEndpointsProtocol=https;AccountName=<myaccount>;AccountKey=<mykey>", '
    '"RelativeLocation": "hai/retrain/bike_rental/model001.ilearner" } } }'
)


def test_docs_config_validates_to_wire_form() -> None:
    config = validate_job_config(load_job_config(string=DOCS_CONFIG), require_model_output=True)
    assert config == {
        "GlobalParameters": {"URI": "https://bostonmtc.blob.core.windows.net/hai/retrain/bike_rental/BikeRental001.csv"},
        "Outputs": {"output1": {
            "ConnectionString": "DefaultEndpointsProtocol=https;AccountName=<myaccount>;AccountKey=<mykey>",
            "RelativeLocation": "hai/retrain/bike_rental/model001.ilearner",
            "BaseLocation": None,
            "SasBlobToken": None,
        }},
    }
    assert output_names_by_kind(config) == {"model": ["output1"], "dataset": []}


def test_readme_typos_are_caught_with_the_fix() -> None:
    config = load_job_config(string=README_TYPOS)
    with pytest.raises(UsageError) as info:
        validate_job_config(config)
    assert "'GolbalParameters' is misspelt" in info.value.message and "azuremlps README" in info.value.message
    assert info.value.hint == "rename it to 'GlobalParameters'"
    config["GlobalParameters"] = config.pop("GolbalParameters")
    with pytest.raises(UsageError) as info:
        validate_job_config(config)
    assert "Inputs.input1: 'ConnetionString' is misspelt" in info.value.message
    assert info.value.hint == "rename it to 'ConnectionString'"
    assert info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(("config", "message", "hint"), [
    ({"inputs": {}}, "key 'inputs' has the wrong case", "case-sensitive: use 'Inputs'"),
    ({"Outputts": {}}, "unknown key 'Outputts'", "did you mean 'Outputs'"),
    ({"Input": {"ConnectionString": CS, "RelativeLocation": "c/a.csv"}, "Inputs": {}}, "'Input' and 'Inputs' given together", "remove 'Input'"),
    ({"Outputs": {"output1": {"ConnectionString": CS, "RelativeLocation": "c/model"}}}, "invalid or missing file extension", ".ilearner"),
    ({"Outputs": {"output1": {"ConnectionString": CS, "RelativeLocation": "c/model.ilearn"}}}, "InvalidBlobExtension", ".csv, .tsv or .arff"),
    ({"Outputs": {"output1": {"ConnectionString": CS, "RelativeLocation": "c/m.ilearner"}, "Output1": {"ConnectionString": CS, "RelativeLocation": "c/e.csv"}}},
     "differ only by case", "case-sensitive"),
    ({"Inputs": {"input1": {"RelativeLocation": "c/a.csv"}}}, "ConnectionString (or BaseLocation + SasBlobToken) is missing", None),
    ({"Inputs": {"input1": {"BaseLocation": "https://a.blob.core.windows.net/", "RelativeLocation": "c/a.csv"}}}, "SasBlobToken is missing", None),
    ({"Inputs": {"input1": {"ConnectionString": CS, "BaseLocation": "https://a/", "SasBlobToken": SAS, "RelativeLocation": "c/a.csv"}}}, "not both", None),
    ({"Inputs": {"input1": {"ConnectionString": CS, "RelativeLocation": "a.csv"}}}, "has no container", None),
    ({"Inputs": {"input1": {"ConnectionString": "not a connection string", "RelativeLocation": "c/a.csv"}}}, "not a storage connection string", None),
    ({"GlobalParameters": {"x": {"nested": 1}}}, "GlobalParameters.x must be a string", None),
    ({"Output": {"ConnectionString": CS, "RelativeLocation": "c/a.csv"}}, "legacy single 'Output'", None),
])
def test_invalid_configs(config: dict, message: str, hint: str | None) -> None:
    with pytest.raises(UsageError) as info:
        validate_job_config(config)
    assert message in info.value.message
    if hint:
        assert hint in (info.value.hint or "")


def test_model_output_required_for_retraining() -> None:
    config = {"Outputs": {"output1": {"ConnectionString": CS, "RelativeLocation": "c/scores.csv"}}}
    validate_job_config(config)  # fine for batch scoring
    with pytest.raises(UsageError, match=r"no output writes a trained model \(.ilearner\)"):
        validate_job_config(config, require_model_output=True)


def test_normalisation() -> None:
    config = validate_job_config({
        "Input": {"ConnectionString": CS, "RelativeLocation": "/mycontainer/mydatablob.csv", "BaseLocation": None, "SasBlobToken": None},
        "GlobalParameters": {"Random seed": 12345, "flag": True, "ratio": 0.5},
        "Outputs": {"output1": {"BaseLocation": "https://acct.blob.core.windows.net/", "RelativeLocation": "c/Model.ILEARNER", "SasBlobToken": SAS}},
        "AzureBatchPoolId": "8dfc151b0d3e446497b845f3b29ef53b",
    })
    assert config["Input"]["RelativeLocation"] == "mycontainer/mydatablob.csv"  # emitted without a leading slash
    assert config["GlobalParameters"] == {"Random seed": "12345", "flag": "true", "ratio": "0.5"}
    assert list(config) == ["Input", "GlobalParameters", "Outputs", "AzureBatchPoolId"]


def test_flags_build_and_merge(tmp_path: Path) -> None:
    f = tmp_path / "job.json"
    f.write_text(json.dumps({"GlobalParameters": {"URI": "x"}}), encoding="utf-8")
    base = load_job_config(file=f)
    config = build_job_config(
        base,
        inputs=["input1=data/train.csv"],
        outputs=["output1=https://acct.blob.core.windows.net/models/m.ilearner" + SAS, "output2=results/eval.csv"],
        global_parameters=["Random seed=7"],
        connection_string=CS,
    )
    config = validate_job_config(config, require_model_output=True)
    assert config["Inputs"] == {"input1": {"ConnectionString": CS, "RelativeLocation": "data/train.csv", "BaseLocation": None, "SasBlobToken": None}}
    assert config["Outputs"]["output1"] == {
        "ConnectionString": None, "RelativeLocation": "models/m.ilearner",
        "BaseLocation": "https://acct.blob.core.windows.net/", "SasBlobToken": SAS,
    }
    assert config["GlobalParameters"] == {"URI": "x", "Random seed": "7"}
    shown = json.dumps(redacted(config))
    assert "c2VjcmV0LWFjY291bnQta2V5" not in shown and "c2lnbmF0dXJl" not in shown


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not both"):
        load_job_config(file=tmp_path / "x.json", string="{}")
    with pytest.raises(NotFoundError, match="job config file not found"):
        load_job_config(file=tmp_path / "missing.json")
    with pytest.raises(UsageError, match="malformed JSON at line 1"):
        load_job_config(string='{"Inputs": }')
    with pytest.raises(UsageError, match="must be a JSON object"):
        load_job_config(string="[]")
    with pytest.raises(UsageError, match="NAME=VALUE"):
        build_job_config({}, inputs=["no-equals-sign"], connection_string=CS)


def test_ref_spec_needs_storage_without_sas() -> None:
    with pytest.raises(UsageError, match="needs a storage connection string"):
        parse_ref_spec("c/a.csv")
    with pytest.raises(UsageError, match="no SAS token"):
        parse_ref_spec("https://acct.blob.core.windows.net/c/a.csv")
    ref = parse_ref_spec("http://127.0.0.1:10000/devstoreaccount1/c/dir/a.csv?sv=1&sig=abc")
    assert ref["BaseLocation"] == "http://127.0.0.1:10000/devstoreaccount1/" and ref["RelativeLocation"] == "c/dir/a.csv"
