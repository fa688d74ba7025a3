"""BES job configurations: build them from flags or read them (``--job-config-file``,
``--job-config-string``, AzureMLPS's names), and validate them before anything is sent.

The wire form (REFERENCE.md §4.2)::

    {"Inputs": {"input1": {"ConnectionString": "...", "RelativeLocation": "container/in.csv",
                           "BaseLocation": null, "SasBlobToken": null}},
     "GlobalParameters": {},
     "Outputs": {"output1": {... "RelativeLocation": "container/model.ilearner" ...}}}

A blob reference is either ``ConnectionString`` + ``RelativeLocation`` or ``BaseLocation`` +
``RelativeLocation`` + ``SasBlobToken``. Output blobs end in ``.ilearner`` (trained models)
or ``.csv``/``.tsv``/``.arff`` (datasets). ``Input`` (legacy single input) and ``Inputs``
never go together. Key names are case-sensitive; the misspellings of the azuremlps README
(``GolbalParameters``, ``ConnetionString``) are caught with a pointer to the right name.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..azure.connection_string import parse_connection_string
from ..errors import UsageError
from ..fsutil import read_text
from ..redact import redact_obj, register_secret

TOP_LEVEL_KEYS = ("Inputs", "Input", "GlobalParameters", "Outputs", "Output", "AzureBatchPoolId")
REF_KEYS = ("ConnectionString", "RelativeLocation", "BaseLocation", "SasBlobToken")
MODEL_EXTENSIONS = (".ilearner",)
DATASET_EXTENSIONS = (".csv", ".tsv", ".arff")
OUTPUT_EXTENSIONS = MODEL_EXTENSIONS + DATASET_EXTENSIONS

#: Misspellings published in the azuremlps README sample (REFERENCE.md §4.2, §7.4 #13).
KNOWN_TYPOS = {"GolbalParameters": "GlobalParameters", "ConnetionString": "ConnectionString"}


def register_sas(token: str | None) -> None:
    """Remember a SAS token's signature as a secret (its expiry and permissions stay readable)."""
    from urllib.parse import parse_qs, unquote

    if not token:
        return
    for sig in parse_qs(token.lstrip("?"), keep_blank_values=True).get("sig", []):
        register_secret(sig)
        register_secret(unquote(sig))


def _typo_error(where: str, key: str, allowed: tuple[str, ...]) -> UsageError:
    if key in KNOWN_TYPOS:
        right = KNOWN_TYPOS[key]
        return UsageError(
            f"{where}: {key!r} is misspelt (a typo copied from the azuremlps README sample); the service ignores it",
            hint=f"rename it to {right!r}",
        )
    exact = [a for a in allowed if a.lower() == key.lower()]
    if exact:
        return UsageError(f"{where}: key {key!r} has the wrong case", hint=f"key names are case-sensitive: use {exact[0]!r}")
    near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return UsageError(
        f"{where}: unknown key {key!r}",
        hint=(f"did you mean {near[0]!r}? " if near else "") + "allowed: " + ", ".join(allowed),
    )


def load_job_config(*, file: str | Path | None = None, string: str | None = None) -> dict[str, Any]:
    """Read a job config from ``--job-config-file`` or ``--job-config-string`` (not both)."""
    if file is not None and string is not None:
        raise UsageError(
            "give --job-config-file or --job-config-string, not both",
            hint="AzureMLPS silently preferred the string; amlws asks you to choose",
        )
    if file is None and string is None:
        return {}
    if file is not None:
        source, text = str(file), read_text(file, what="job config file")
    else:
        source, text = "--job-config-string", string or ""
    if not text.strip():
        raise UsageError(f"{source}: empty job config", hint="give a JSON object with Inputs, Outputs, GlobalParameters")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            hint="fix the JSON (a trailing comma or a missing quote is the usual cause)",
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}: the job config must be a JSON object",
            hint='write it as {"Inputs": {...}, "Outputs": {...}, "GlobalParameters": {...}}')
    return data


def blob_ref(
    relative_location: str,
    *,
    connection_string: str | None = None,
    base_location: str | None = None,
    sas_blob_token: str | None = None,
) -> dict[str, Any]:
    """One ``AzureBlobDataReference`` in wire form (all four keys, nulls for the unused ones)."""
    return {
        "ConnectionString": connection_string,
        "RelativeLocation": relative_location,
        "BaseLocation": base_location,
        "SasBlobToken": sas_blob_token,
    }


def parse_ref_spec(spec: str, *, connection_string: str | None = None, what: str = "blob") -> dict[str, Any]:
    """A blob reference from a flag value: a blob URL with a SAS, or ``container/path``
    (with the storage connection string)."""
    text = spec.strip()
    if text.startswith(("https://", "http://")):
        from ..model import ModelLocation

        loc = ModelLocation.from_uri(text)
        if loc.sas_blob_token:
            register_sas(loc.sas_blob_token)
            return blob_ref(loc.relative_location, base_location=loc.base_location, sas_blob_token=loc.sas_blob_token)
        if not connection_string:
            raise UsageError(
                f"the {what} URL has no SAS token and no storage connection string is configured",
                hint="append a SAS (?sv=...&sig=...) or set AMLWS_STORAGE_CONNECTION_STRING",
            )
        return blob_ref(loc.relative_location, connection_string=connection_string)
    if not connection_string:
        raise UsageError(
            f"the {what} {text!r} needs a storage connection string",
            hint="set AMLWS_STORAGE_CONNECTION_STRING (or amlws config set storage_connection_string), or give a blob URL with a SAS",
        )
    return blob_ref(text.lstrip("/"), connection_string=connection_string)


def _split_pair(value: str, flag: str) -> tuple[str, str]:
    name, sep, rest = value.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"{flag} expects NAME=VALUE, got {value!r}", hint=f"e.g. {flag} input1=container/data.csv")
    return name.strip(), rest


def build_job_config(
    base: dict[str, Any] | None = None,
    *,
    inputs: list[str] | dict[str, Any] | None = None,
    outputs: list[str] | dict[str, Any] | None = None,
    global_parameters: list[str] | dict[str, Any] | None = None,
    connection_string: str | None = None,
) -> dict[str, Any]:
    """Merge flags (``NAME=REF`` / ``KEY=VALUE`` strings, or ready dicts) over a loaded config."""
    config = json.loads(json.dumps(base or {}))

    def refs(values: Any, flag: str) -> dict[str, Any]:
        if isinstance(values, dict):
            return dict(values)
        out: dict[str, Any] = {}
        for v in values or []:
            name, spec = _split_pair(v, flag)
            out[name] = parse_ref_spec(spec, connection_string=connection_string, what=f"{flag} {name}")
        return out

    new_inputs = refs(inputs, "--input-blob")
    if new_inputs:
        if "Input" in config:
            raise UsageError("the job config has a single 'Input'; --input adds to 'Inputs'", hint="use 'Inputs' in the config file")
        config.setdefault("Inputs", {}).update(new_inputs)
    new_outputs = refs(outputs, "--output-blob")
    if new_outputs:
        if not isinstance(config.get("Outputs"), dict):
            config["Outputs"] = {}
        config["Outputs"].update(new_outputs)
    params: dict[str, Any] = {}
    if isinstance(global_parameters, dict):
        params = dict(global_parameters)
    else:
        for v in global_parameters or []:
            k, val = _split_pair(v, "--global-param")
            params[k] = val
    if params:
        if not isinstance(config.get("GlobalParameters"), dict):
            config["GlobalParameters"] = {}
        config["GlobalParameters"].update(params)
    return config


def validate_job_config(config: Any, *, require_model_output: bool = False, source: str = "job config") -> dict[str, Any]:
    """Check a job config as the service would, and return its normalised wire form.

    :param require_model_output: at least one output must be an ``.ilearner`` (retraining).
    :raises UsageError: naming the key and the fix.
    """
    if not isinstance(config, dict):
        raise UsageError(f"{source}: the job config must be a JSON object",
            hint='write it as {"Inputs": {...}, "Outputs": {...}, "GlobalParameters": {...}}')
    for key in config:
        if key not in TOP_LEVEL_KEYS:
            raise _typo_error(source, key, TOP_LEVEL_KEYS)
    if config.get("Input") is not None and config.get("Inputs") is not None:
        raise UsageError(
            f"{source}: 'Input' and 'Inputs' given together (the service rejects it: DuplicateInputInBatchCall)",
            hint="put every input under 'Inputs' and remove 'Input'",
        )
    if config.get("Output") is not None:
        raise UsageError(f"{source}: the legacy single 'Output' is not supported", hint="name the outputs under 'Outputs'")
    out: dict[str, Any] = {}
    if config.get("Input") is not None:
        out["Input"] = _validate_ref(config["Input"], f"{source}: Input")
    else:
        inputs = config.get("Inputs")
        if inputs is not None:
            out["Inputs"] = {name: _validate_ref(ref, f"{source}: Inputs.{name}") for name, ref in _named(inputs, "Inputs", source).items()}
    out["GlobalParameters"] = _validate_params(config.get("GlobalParameters"), source)
    outputs = config.get("Outputs")
    if outputs is not None:
        named = _named(outputs, "Outputs", source)
        lowered: dict[str, str] = {}
        for name in named:
            if name.lower() in lowered:
                raise UsageError(
                    f"{source}: outputs {lowered[name.lower()]!r} and {name!r} differ only by case",
                    hint="output names are case-sensitive on the service: keep the one that matches its Web Service Output",
                )
            lowered[name.lower()] = name
        out["Outputs"] = {}
        for name, ref in named.items():
            where = f"{source}: Outputs.{name}"
            ref = _validate_ref(ref, where)
            ext = _extension(ref["RelativeLocation"])
            if ext not in OUTPUT_EXTENSIONS:
                raise UsageError(
                    f"{where}: {ref['RelativeLocation']!r} has an invalid or missing file extension "
                    "(the service rejects it: InvalidBlobExtension)",
                    hint="trained models end in .ilearner; datasets in .csv, .tsv or .arff",
                )
            out["Outputs"][name] = ref
    if require_model_output and not any(_extension(r["RelativeLocation"]) == ".ilearner" for r in (out.get("Outputs") or {}).values()):
        raise UsageError(
            f"{source}: no output writes a trained model (.ilearner)",
            hint="add an output whose RelativeLocation ends in .ilearner (the Train Model's Web Service Output)",
        )
    pool = config.get("AzureBatchPoolId")
    if pool is not None:
        if not isinstance(pool, str) or not pool.strip():
            raise UsageError(f"{source}: AzureBatchPoolId must be a string",
                hint='give the pool ID as a string, or leave it out')
        out["AzureBatchPoolId"] = pool
    return out


def _named(value: Any, key: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"{source}: {key} must be an object of name -> blob reference",
            hint='e.g. {"input1": {"ConnectionString": "...", "RelativeLocation": "container/blob.csv"}}')
    for name in value:
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"{source}: {key} has an empty name", hint="use the Web Service Input/Output module names, e.g. input1")
    return value


def _validate_ref(ref: Any, where: str) -> dict[str, Any]:
    if not isinstance(ref, dict):
        raise UsageError(f"{where}: a blob reference must be an object", hint="give ConnectionString + RelativeLocation, or BaseLocation + RelativeLocation + SasBlobToken")
    for key in ref:
        if key not in REF_KEYS:
            raise _typo_error(where, key, REF_KEYS)
    for key, value in ref.items():
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{where}: {key} must be a string", hint='quote the value')
    cs, rel, base, sas = (ref.get(k) or None for k in REF_KEYS)
    if not rel:
        raise UsageError(f"{where}: RelativeLocation is missing", hint="give container/path/blob.ext")
    rel = rel.lstrip("/")  # emitted without a leading slash (REFERENCE.md §4.2)
    if "/" not in rel:
        raise UsageError(f"{where}: RelativeLocation {rel!r} has no container", hint="write it as container/path/blob.ext")
    if cs and (base or sas):
        raise UsageError(
            f"{where}: give either ConnectionString or BaseLocation + SasBlobToken, not both",
            hint="a connection string is for regular blobs; BaseLocation + SasBlobToken for SAS blobs",
        )
    if cs:
        register_secret(cs)
        _check_connection_string(cs, where)
        return blob_ref(rel, connection_string=cs)
    if base and sas:
        if not urlsplit(base).scheme or not urlsplit(base).netloc:
            raise UsageError(f"{where}: BaseLocation {base!r} is not a URL", hint="e.g. https://account.blob.core.windows.net/")
        register_sas(sas)
        return blob_ref(rel, base_location=base, sas_blob_token=sas)
    missing = "SasBlobToken" if base else "BaseLocation" if sas else "ConnectionString (or BaseLocation + SasBlobToken)"
    raise UsageError(
        f"{where}: {missing} is missing",
        hint="a blob reference is ConnectionString + RelativeLocation, or BaseLocation + RelativeLocation + SasBlobToken",
    )


def _check_connection_string(cs: str, where: str) -> None:
    try:
        parse_connection_string(cs)
    except UsageError:
        raise UsageError(
            f"{where}: the ConnectionString is not a storage connection string",
            hint="expected DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...",
        ) from None


def _validate_params(params: Any, source: str) -> dict[str, str]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise UsageError(f"{source}: GlobalParameters must be an object of name -> string",
            hint='e.g. "GlobalParameters": {"Name": "value"}')
    out: dict[str, str] = {}
    for k, v in params.items():
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, (int, float)):
            out[k] = json.dumps(v)  # the service declares IDictionary<string,string>
        elif isinstance(v, str):
            out[k] = v
        elif v is None:
            out[k] = ""
        else:
            raise UsageError(f"{source}: GlobalParameters.{k} must be a string, not {type(v).__name__}",
                hint='quote the value, e.g. "0.5"')
    return out


def _extension(relative_location: str) -> str:
    name = relative_location.split("?")[0].rsplit("/", 1)[-1]
    return ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""


def output_names_by_kind(config: dict[str, Any]) -> dict[str, list[str]]:
    """``{"model": [...], "dataset": [...]}``: which outputs write trained models and which datasets."""
    kinds: dict[str, list[str]] = {"model": [], "dataset": []}
    for name, ref in (config.get("Outputs") or {}).items():
        kinds["model" if _extension(ref.get("RelativeLocation") or "") == ".ilearner" else "dataset"].append(name)
    return kinds


def redacted(config: dict[str, Any]) -> dict[str, Any]:
    """A job config fit to print: connection strings masked, SAS signatures removed."""
    return redact_obj(config)
