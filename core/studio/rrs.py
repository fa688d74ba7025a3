"""Request-Response Service (RRS): score rows on a web service (``Invoke-AmlWebServiceRRSEndpoint``).

``POST {ApiLocation}/execute?api-version=2.0&details=true`` with ``Authorization: Bearer <api key>``
and the Studio DataTable body (REFERENCE.md §5); ``&format=swagger`` is added for the
swagger form (a list of row objects per input) or when the given URL asks for it::

    {"Inputs": {"input1": {"ColumnNames": ["a", "b"], "Values": [["1", "x"]]}}, "GlobalParameters": {}}

The response is ``{"Results": {"output1": {"type": "DataTable", "value": {"ColumnNames",
"ColumnTypes", "Values"}}}}``. Scoring has no side effects, so the POST is retried on
throttling and transient errors like a GET.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import API_KEY_HINT
from ..errors import AmlwsError, UsageError
from ..fsutil import read_text
from ..redact import register_secret

PARAMS = {"api-version": "2.0", "details": "true"}


@dataclass
class Table:
    """One output table: column names, column types (may be empty) and rows."""

    columns: list[str]
    types: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "types": self.types, "rows": self.rows}

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def table_from_csv(text: str, *, delimiter: str | None = None) -> Table:
    """A CSV (header row first) as a table of strings."""
    text = text.lstrip("\ufeff")
    if delimiter is None:
        first = text.splitlines()[0] if text.strip() else ""
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = [r for r in reader if r and any(c.strip() for c in r)]
    if not rows:
        raise UsageError("the CSV input is empty", hint="the first row must name the columns")
    return Table([c.strip() for c in rows[0]], [], rows[1:])


def build_request(
    data: Any,
    *,
    input_name: str = "input1",
    global_parameters: dict[str, Any] | None = None,
    source: str = "input",
) -> dict[str, Any]:
    """The RRS body from parsed JSON (a full body, a DataTable, or a list of row objects) or a :class:`Table`."""
    body: dict[str, Any]
    if isinstance(data, Table):
        body = {"Inputs": {input_name: {"ColumnNames": data.columns, "Values": data.rows}}, "GlobalParameters": {}}
    elif isinstance(data, dict) and ("Inputs" in data or "GlobalParameters" in data):
        body = json.loads(json.dumps(data))
        if "Input" in data:
            raise UsageError(f"{source}: give 'Inputs', not 'Input'", hint='rename the key Input to Inputs')
        if not isinstance(body.get("Inputs"), dict) or not body["Inputs"]:
            raise UsageError(f"{source}: 'Inputs' must name at least one input", hint='e.g. {"Inputs": {"input1": {...}}}')
        for name, table in body["Inputs"].items():
            _check_datatable(table, f"{source}: Inputs.{name}")
        body.setdefault("GlobalParameters", {})
    elif isinstance(data, dict) and "ColumnNames" in data:
        _check_datatable(data, source)
        body = {"Inputs": {input_name: data}, "GlobalParameters": {}}
    elif isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        cols: list[str] = []
        for r in data:
            cols.extend(k for k in r if k not in cols)
        body = {"Inputs": {input_name: {"ColumnNames": cols, "Values": [[r.get(c) for c in cols] for r in data]}}, "GlobalParameters": {}}
    else:
        raise UsageError(
            f"{source}: not an RRS input",
            hint='give {"Inputs": {"input1": {"ColumnNames": [...], "Values": [[...]]}}}, a DataTable, a list of row objects, or a CSV file',
        )
    if global_parameters:
        if not isinstance(body.get("GlobalParameters"), dict):
            body["GlobalParameters"] = {}
        body["GlobalParameters"].update(global_parameters)
    return body


def _check_datatable(table: Any, where: str) -> None:
    if isinstance(table, list):  # the swagger format: a list of row objects; passed through
        return
    if not isinstance(table, dict) or not isinstance(table.get("ColumnNames"), list) or not isinstance(table.get("Values"), list):
        raise UsageError(f"{where}: expected {{'ColumnNames': [...], 'Values': [[...]]}}",
            hint='write each input as {"ColumnNames": [...], "Values": [[...]]}')
    width = len(table["ColumnNames"])
    for i, row in enumerate(table["Values"]):
        if not isinstance(row, list) or len(row) != width:
            raise UsageError(f"{where}: row {i + 1} has {len(row) if isinstance(row, list) else '?'} values for {width} columns",
                hint='give each row one value per column')


def load_input(
    path: str | Path | None,
    *,
    input_name: str = "input1",
    global_parameters: dict[str, Any] | None = None,
    stdin: Any = None,
) -> dict[str, Any]:
    """Read an RRS input from a JSON or CSV file, or ``-``/``None`` for standard input."""
    if path is None or str(path) == "-":
        source = "<stdin>"
        text = (stdin or sys.stdin).read()
        is_csv = not text.lstrip().startswith(("{", "["))
    else:
        source = str(path)
        text = read_text(path, what="RRS input file")
        suffix = Path(path).suffix.lower()
        is_csv = suffix in (".csv", ".tsv") or (suffix != ".json" and not text.lstrip().startswith(("{", "[")))
    if is_csv:
        table = table_from_csv(text, delimiter="\t" if str(path).lower().endswith(".tsv") else None)
        return build_request(table, input_name=input_name, global_parameters=global_parameters, source=source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            hint='fix the JSON at that line and column') from None
    return build_request(data, input_name=input_name, global_parameters=global_parameters, source=source)


def parse_results(body: Any) -> dict[str, Table]:
    """``Results`` of an RRS response as tables (DataTable and swagger list forms)."""
    if not isinstance(body, dict):
        raise AmlwsError("the RRS service returned a malformed response", hint="rerun with --debug to see it")
    results = next((v for k, v in body.items() if k.lower() == "results"), None)
    if not isinstance(results, dict):
        raise AmlwsError("the RRS response has no Results", hint="rerun with --debug to see it")
    out: dict[str, Table] = {}
    for name, item in results.items():
        if isinstance(item, list):  # swagger format: list of row objects
            cols: list[str] = []
            for r in item:
                if isinstance(r, dict):
                    cols.extend(k for k in r if k not in cols)
            out[name] = Table(cols, [], [[r.get(c) for c in cols] for r in item if isinstance(r, dict)])
            continue
        if not isinstance(item, dict):
            continue
        value = v if isinstance(v := item.get("value"), dict) else item
        out[name] = Table(list(value.get("ColumnNames") or []), list(value.get("ColumnTypes") or []), list(value.get("Values") or []))
    return out


def wants_swagger(url: str, body: Any) -> bool:
    """``format=swagger`` (REFERENCE.md §5): kept from the URL the user gave, and sent with a
    list-of-rows body (the swagger input format), which the DataTable endpoint does not read."""
    from urllib.parse import parse_qs, urlsplit

    query = {k.lower(): v for k, v in parse_qs(urlsplit(str(url)).query, keep_blank_values=True).items()}
    if any(v.lower() == "swagger" for v in query.get("format", [])):
        return True
    inputs = body.get("Inputs") if isinstance(body, dict) else None
    return isinstance(inputs, dict) and any(isinstance(t, list) for t in inputs.values())


def execute_params(url: str, body: Any) -> dict[str, str]:
    """The query of the execute POST: ``api-version=2.0&details=true`` (+ ``format=swagger``)."""
    params = dict(PARAMS)
    if wants_swagger(url, body):
        params["format"] = "swagger"
    return params


def execute_url(url: str, body: Any) -> str:
    """The full execute URL (what ``--what-if`` shows)."""
    from urllib.parse import urlencode

    from .bes import api_location_from_url

    return f"{api_location_from_url(url)}/execute?{urlencode(execute_params(url, body))}"


def request_body(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body as sent: when the URL asks for ``format=swagger`` (the URL the portal shows for new
    web services), DataTable inputs become the swagger form, a list of row objects per input, which
    is what that format reads; otherwise ``body`` unchanged."""
    inputs = body.get("Inputs") if isinstance(body, dict) else None
    if not wants_swagger(url, None) or not isinstance(inputs, dict):
        return body
    converted = {}
    for name, table in inputs.items():
        if isinstance(table, dict) and isinstance(table.get("ColumnNames"), list):
            cols = table["ColumnNames"]
            table = [dict(zip(cols, row)) for row in table.get("Values") or []]
        converted[name] = table
    return {**body, "Inputs": converted}


@dataclass
class RrsResult:
    outputs: dict[str, Table]
    raw: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"outputs": {k: v.to_dict() for k, v in self.outputs.items()}}


def invoke(
    url: str,
    api_key: str,
    body: dict[str, Any],
    *,
    http: Any = None,
    settings: Any = None,
) -> RrsResult:
    """Score ``body`` on the service at ``url`` (its ``ApiLocation`` or ``…/execute`` URL)."""
    from .bes import api_location_from_url, loads_tolerant

    if not api_key:
        raise UsageError("no API key for the RRS service", hint=API_KEY_HINT)
    register_secret(api_key)
    if http is None:
        from ..http import HttpClient

        http = HttpClient(settings)
    resp = http.request(
        "POST", f"{api_location_from_url(url)}/execute", params=execute_params(url, body), json_body=request_body(url, body),
        headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
        idempotent=True, error_context="scoring (RRS)",
    )
    try:
        raw = loads_tolerant(resp.content.decode("utf-8", "replace"))
    except ValueError:
        raise AmlwsError("the RRS service returned a non-JSON response", hint="rerun with --debug to see it") from None
    return RrsResult(parse_results(raw), raw)
