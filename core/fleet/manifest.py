"""Fleet manifests: one row per model, from CSV, JSON or YAML (YAML with the ``amlws[yaml]`` extra).

See ``docs/fleet.md`` for the columns. A row says what to retrain and deploy; how a row is run is
:mod:`amlws.fleet.runner`'s.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"", "0", "false", "no", "n", "off"}


@dataclass
class FleetRow:
    """One model of the fleet.

    :param key: unique name of the row (journal key and shard hash); defaults to the target.
    :param target: a target of any backend.
    :param training_url: the training service's BES URL; ``None`` with ``model`` = patch only.
    :param data: training data: local file, blob URL with SAS, or ``container/blob``.
    :param global_parameters: BES ``GlobalParameters`` (e.g. the walkthrough's ``URI``).
    :param gates: ``"Accuracy>=0.85"``-style gates (need ``evaluation_output``).
    :param create: create the target when it does not exist (backends with ``amlws_ensure_target``).
    :param model: a model to deploy without training, as the target's backend reads one (``amlws patch-model --model``):
        an existing ``.ilearner`` URL (Studio), a model version ``NAME:VERSION`` (Azure ML v2).
    :param job_file: a training job definition to run on the target's own service (``amlws retrain TARGET --job-file``).
    :param from_job: an earlier training job to copy (``amlws retrain TARGET --from-job``).
    :param inputs: the job's inputs to replace (``input:NAME`` / ``input_NAME`` columns: a URI or a local path).
    :param model_name: the model to register a new version of (default: the one the target serves).
    :param strategy: how the target's backend deploys the job's model (``rollout``, ``in-place``; default: its own).
    """

    key: str
    target: str
    training_url: str | None = None
    data: str | None = None
    global_parameters: dict[str, Any] = field(default_factory=dict)
    gates: list[str] = field(default_factory=list)
    evaluation_output: str | None = None
    model_output: str = "output1"
    input_name: str = "input1"
    create: bool = False
    description: str | None = None
    model: str | None = None
    backend: str | None = None
    selector: str | None = None
    job_file: str | None = None
    from_job: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    model_name: str | None = None
    strategy: str | None = None
    line: int = 0

    @property
    def runs_a_job(self) -> bool:
        """Whether the row retrains by a training job of the target's own service (the target's backend's ``amlws_retrain``)."""
        return bool(self.job_file or self.from_job)

    def fingerprint(self) -> str:
        """What the row asks for; a journal entry for another fingerprint is stale. (The job fields count
        only when set: a row without them keeps the fingerprint it had before they existed.)"""
        data = {k: v for k, v in asdict(self).items() if k not in ("line", "description") and not (k in _JOB_FIELDS and not v)}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


#: Manifest column / field names (case, ``-`` and ``_`` ignored) -> FleetRow field.
_FIELDS = {
    "key": "key", "name": "key", "id": "key",
    "target": "target", "endpoint": "target", "service": "target",
    "trainingurl": "training_url", "trainingservice": "training_url", "training": "training_url",
    "data": "data", "trainingdata": "data",
    "globalparameters": "global_parameters", "params": "global_parameters",
    "gate": "gates", "gates": "gates",
    "evaluationoutput": "evaluation_output", "modeloutput": "model_output", "inputname": "input_name",
    "create": "create", "createifmissing": "create",
    "description": "description",
    "model": "model", "ilearner": "model",
    "backend": "backend", "resource": "selector", "selector": "selector",
    "jobfile": "job_file", "fromjob": "from_job", "modelname": "model_name", "strategy": "strategy",
}
_PARAM_PREFIXES = ("param:", "param.", "globalparameters.", "globalparameter.", "gp.")
#: ``input:NAME`` / ``input_NAME`` / ``input.NAME`` columns: a training job's inputs (``input_name`` is the Studio column).
_INPUT_PREFIXES = ("input:", "input_", "input.")
_JOB_FIELDS = ("job_file", "from_job", "inputs", "model_name", "strategy")


def _is_input_column(name: Any) -> bool:
    """``input:NAME``, ``input_NAME``, ``input.NAME``: a training job's input (not the Studio ``input_name`` column)."""
    text = str(name).strip().lower()
    return any(text.startswith(p) and len(text) > len(p) for p in _INPUT_PREFIXES) and _norm(text) != "inputname"


def _norm(name: str) -> str:
    return "".join(ch for ch in str(name).strip().lower() if ch not in "-_ ")


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{where}: expected true or false, got {value!r}", hint="write true/false (or yes/no, 1/0)")


def _column(name: Any, where: str) -> str:
    """The field a (non-``param:``) column names; unknown: :class:`UsageError`."""
    fname = _FIELDS.get(_norm(name))
    if fname is None:
        raise UsageError(f"{where}: unknown column {name!r}",
                         hint="columns: key, target, training_url, data, gate, evaluation_output, model_output, "
                              "input_name, create, description, model, backend, resource, param:NAME, "
                              "job_file, from_job, input:NAME, model_name, strategy")
    return fname


def _row_from_mapping(raw: dict[str, Any], defaults: dict[str, Any], where: str, line: int) -> FleetRow:
    values: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for source in (defaults, raw):
        for name, value in source.items():
            if value is None or (isinstance(value, str) and value.strip() == ""):
                continue
            lowered = str(name).strip().lower()
            prefix = next((p for p in _PARAM_PREFIXES if lowered.startswith(p)), None)
            if prefix is not None:
                params[str(name).strip()[len(prefix):]] = value
                continue
            if _is_input_column(name):
                prefix = next(p for p in _INPUT_PREFIXES if lowered.startswith(p))
                values.setdefault("inputs", {})[str(name).strip()[len(prefix):]] = str(value).strip()
                continue
            fname = _column(name, where)
            if fname == "global_parameters":
                if isinstance(value, str):
                    try:
                        value = json.loads(value)
                    except ValueError:
                        raise UsageError(f"{where}: global_parameters must be a JSON object",
                            hint='write it as a JSON object, e.g. {"Region": "eu"}') from None
                if not isinstance(value, dict):
                    raise UsageError(f"{where}: global_parameters must be an object",
                        hint='write it as an object of name: value, e.g. {"Region": "eu"}')
                params.update(value)
                continue
            if fname == "gates":
                items = value if isinstance(value, list) else [g for g in str(value).split(";")]
                values["gates"] = [str(g).strip() for g in items if str(g).strip()]
                continue
            if fname == "create":
                values["create"] = _bool(value, f"{where} column {name}")
                continue
            values[fname] = value if isinstance(value, (dict, list)) else str(value).strip()
    if not values.get("target"):
        raise UsageError(f"{where}: no target", hint="give each row a target (any backend's: amlws plugins lists them)")
    if not values.get("training_url") and not values.get("model") and not values.get("job_file") and not values.get("from_job"):
        raise UsageError(f"{where}: neither training_url nor model (nor job_file or from_job)",
                         hint="give the training service's BES URL (training_url), a model to deploy (model), "
                              "or a training job of the target's service (job_file or from_job)")
    if values.get("training_url") and (values.get("job_file") or values.get("from_job")):
        raise UsageError(f"{where}: both training_url and a training job",
                         hint="a row retrains by a training service (training_url) or by a job (job_file / from_job), not both")
    values.setdefault("key", values["target"])
    values["global_parameters"] = params
    return FleetRow(line=line, **values)


def parse_manifest(text: str, *, fmt: str, source: str = "<manifest>", defaults: dict[str, Any] | None = None) -> list[FleetRow]:
    """Rows from a manifest's text (``fmt``: ``csv``, ``json`` or ``yaml``).

    JSON/YAML: a list of row objects, or ``{"defaults": {...}, "rows": [...]}``.
    ``defaults`` (e.g. from command-line options) fill the cells a row leaves empty.
    :raises UsageError: unknown columns, missing targets, duplicate keys.
    """
    defaults = dict(defaults or {})
    rows: list[FleetRow] = []
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        if not reader.fieldnames:
            raise UsageError(f"{source}: empty manifest", hint="the first line names the columns, e.g. key,target,training_url,data")
        for name in reader.fieldnames:
            if str(name).strip() and not any(str(name).strip().lower().startswith(p) for p in _PARAM_PREFIXES) \
                    and not _is_input_column(name):
                _column(name, f"{source} line 1")  # the header names the columns: a typo is line 1's
        for raw in reader:
            i = reader.line_num
            if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
                continue
            if None in raw:
                raise UsageError(f"{source} line {i}: more cells than columns",
                    hint='quote cells that contain commas, or name the extra column in the header line')
            rows.append(_row_from_mapping(raw, defaults, f"{source} line {i}", i))
    else:
        if fmt == "json":
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise UsageError(f"{source}: invalid JSON: {exc}", hint='fix the JSON at the place named') from None
        elif fmt == "yaml":
            try:
                import yaml
            except ImportError:
                raise UsageError(f"{source}: YAML manifests need PyYAML, which is not installed",
                                 hint="pip install 'amlws[yaml]' (or PyYAML), or write the manifest as CSV or JSON") from None
            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise UsageError(f"{source}: invalid YAML: {exc}", hint='fix the YAML at the place named') from None
        else:
            raise UsageError(f"unknown manifest format {fmt!r}", hint="use .csv, .json or .yaml")
        if isinstance(doc, dict):
            defaults = {**defaults, **(doc.get("defaults") or {})}
            doc = doc.get("rows")
        if not isinstance(doc, list):
            raise UsageError(f"{source}: expected a list of rows (or an object with \"rows\")",
                hint='write a list of row objects, or {"defaults": {...}, "rows": [...]}')
        for i, raw in enumerate(doc, start=1):
            if not isinstance(raw, dict):
                raise UsageError(f"{source}: row {i} is not an object",
                    hint='write each row as an object of column: value')
            rows.append(_row_from_mapping(raw, defaults, f"{source} row {i}", i))
    seen: dict[str, int] = {}
    for row in rows:
        if row.key in seen:
            raise UsageError(f"{source}: duplicate row key {row.key!r} (rows {seen[row.key]} and {row.line})",
                             hint="give every row a unique key (column key)")
        seen[row.key] = row.line
    return rows


def manifest_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(suffix, "csv")


def load_manifest(path: str | Path, *, defaults: dict[str, Any] | None = None) -> list[FleetRow]:
    from ..fsutil import read_text

    text = read_text(path, what="fleet manifest")
    rows = parse_manifest(text, fmt=manifest_format(path), source=str(path), defaults=defaults)
    base = Path(path).resolve().parent
    for row in rows:  # a data file named relative to the manifest is found wherever amlws runs
        if row.data and "://" not in row.data and not Path(row.data).is_absolute() and (base / row.data).is_file():
            row.data = str(base / row.data)
    return rows
