"""Scoring an online endpoint (``amlws invoke``, the rollout's smoke steps): REFERENCE.md §7.

``POST {properties.scoringUri}`` with ``Authorization: Bearer <credential>``, where the credential
follows the endpoint's ``authMode``: ``Key`` — the primary key from ``listKeys``; ``AMLToken`` — the
``accessToken`` of the ``token`` action; ``AADToken`` — a Microsoft Entra token for
``https://ml.azure.com`` (not the ARM audience) from amlws's one credential factory. The header
``azureml-model-deployment: DEP`` sends the request to one deployment, bypassing the split.

The body is MLflow's ``input_data``: a CSV file (header row first) becomes
``{"input_data": {"columns", "index", "data"}}`` with numbers as numbers; a JSON file is sent as
it is when it already is a scoring body (``input_data``, ``dataframe_split``, ``dataframe_records``,
``inputs``, ``instances``), else a list of row objects is wrapped in ``input_data``.

Keys and tokens are registered as secrets (never printed or logged). Scoring has no side effects,
so the POST is retried on throttling and transient errors like a GET.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlws.errors import RemoteError, UsageError
from amlws.fsutil import read_text
from amlws.redact import register_secret

#: routes a scoring request to one deployment (REFERENCE.md §7)
DEPLOYMENT_HEADER = "azureml-model-deployment"
#: the audience of an Entra token for ``authMode: AADToken`` (§7; azure-ai-ml's AAD_TOKEN_RESOURCE_ENDPOINT)
AAD_SCOPE = "https://ml.azure.com/.default"
#: top-level keys of a JSON file that already is a scoring body (MLflow's accepted forms)
_BODY_KEYS = ("input_data", "dataframe_split", "dataframe_records", "inputs", "instances")


@dataclass
class Scored:
    """One scoring answer.

    :param predictions: the answer's JSON (a list with one prediction per row for an MLflow model).
    :param deployment: who served it (the answer's ``azureml-model-deployment`` header), when said.
    :param request_id: the answer's ``x-request-id``.
    """

    predictions: Any
    deployment: str | None
    request_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "predictions": self.predictions, "requestId": self.request_id}


def _number(value: str) -> Any:
    text = value.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return value


def body_from_text(text: str, source: str) -> dict[str, Any]:
    """The MLflow scoring body of a CSV or JSON document (see the module docstring).

    :raises UsageError: (exit 2) an empty CSV, JSON that is neither a body nor a list of rows.
    """
    stripped = text.lstrip("\ufeff").strip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise UsageError(f"{source}: not valid JSON ({exc})", hint="give a CSV file with a header row or an MLflow input_data body") from None
        if isinstance(data, dict) and any(k in data for k in _BODY_KEYS):
            return data
        if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
            columns = list(dict.fromkeys(k for r in data for k in r))
            return {"input_data": {"columns": columns, "index": list(range(len(data))), "data": [[r.get(c) for c in columns] for r in data]}}
        raise UsageError(f"{source}: not a scoring body",
                         hint='give {"input_data": {"columns": [...], "data": [[...]]}}, a list of row objects, or a CSV file')
    rows = [r for r in csv.reader(io.StringIO(stripped)) if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise UsageError(f"{source}: the CSV input has no rows", hint="the first row names the columns, each next row is one input")
    columns = [c.strip() for c in rows[0]]
    return {"input_data": {"columns": columns, "index": list(range(len(rows) - 1)), "data": [[_number(c) for c in r] for r in rows[1:]]}}


def load_body(path: str | Path) -> dict[str, Any]:
    """:func:`body_from_text` of a file (``-``: stdin)."""
    if str(path) == "-":
        import sys

        return body_from_text(sys.stdin.read(), "<stdin>")
    return body_from_text(read_text(path, what="input file"), str(path))


def credential(client: Any, endpoint: dict[str, Any], settings: Any) -> str:
    """The bearer credential ``endpoint``'s ``authMode`` takes (one POST for Key/AMLToken; none for AADToken)."""
    endpoint_id = str(endpoint.get("id") or "")
    mode = str((endpoint.get("properties") or {}).get("authMode") or "Key").lower()
    if mode == "key":
        value = str(client.list_keys(endpoint_id).get("primaryKey") or "")
    elif mode == "amltoken":
        value = str(client.get_token(endpoint_id).get("accessToken") or "")
    elif mode == "aadtoken":
        from amlws.azure.credentials import make_credential

        value = str(make_credential(settings).get_token(AAD_SCOPE).token)
    else:
        raise UsageError(f"endpoint {endpoint.get('name')} has an unknown authMode {mode!r}", hint="authMode is Key, AMLToken or AADToken")
    if not value:
        raise RemoteError(f"the service gave no credential to score {endpoint.get('name')} ({mode})",
                          hint="check your permissions on the endpoint (…/onlineEndpoints/score/action)")
    register_secret(value)
    return value


class Scorer:
    """Scores one endpoint: its scoring URI and credential read once, each request one POST.

    :param client: a :class:`~amlws.plugins.mlv2.client.V2Client` (reads the endpoint, keys, token).
    :param endpoint: the endpoint document (``GET``), whose ``scoringUri`` and ``authMode`` are used.
    """

    def __init__(self, client: Any, endpoint: dict[str, Any], settings: Any) -> None:
        self.client = client
        self.endpoint = endpoint
        self.settings = settings
        self.uri = str((endpoint.get("properties") or {}).get("scoringUri") or "")
        if not self.uri:
            raise UsageError(f"endpoint {endpoint.get('name')} has no scoringUri yet",
                             hint="wait until it is provisioned (amlws mlv2 endpoints get ENDPOINT)")
        self._credential: str | None = None
        self._http: Any = None
        #: scoring requests sent (the rollout's request count)
        self.requests = 0

    def _client(self) -> Any:
        if self._http is None:
            from amlws.http import HttpClient

            self._http = HttpClient(self.settings)
        return self._http

    def score(self, body: dict[str, Any], *, deployment: str | None = None) -> Scored:
        """POST ``body`` (to ``deployment`` only, when given).

        :raises RemoteError: the answer is not 2xx (e.g. 424 for a model error), with its status.
        """
        if self._credential is None:
            self._credential = credential(self.client, self.endpoint, self.settings)
        headers = {"Authorization": f"Bearer {self._credential}", "Accept": "application/json"}
        if deployment:
            headers[DEPLOYMENT_HEADER] = deployment
        where = f"score {self.endpoint.get('name')}" + (f" (deployment {deployment})" if deployment else "")
        http = self._client()
        before = http.request_count
        try:
            resp = http.request("POST", self.uri, json_body=body, headers=headers, idempotent=True, error_context=where)
        finally:
            self.requests += http.request_count - before
        try:
            answer = resp.json() if resp.content else None
        except ValueError:
            answer = resp.text
        return Scored(answer, resp.headers.get(DEPLOYMENT_HEADER), resp.headers.get("x-request-id"))

    def close(self) -> None:
        if self._http is not None:
            self._http.close()


def invoke(client: Any, endpoint_id: str, body: dict[str, Any], settings: Any, *, deployment: str | None = None) -> dict[str, Any]:
    """``amlws invoke``: GET the endpoint, then one scoring POST; ``{"endpoint", "deployment", "predictions", "requestId"}``.

    :param deployment: route to this deployment (``azureml-model-deployment``); it must be one of the endpoint's.
    """
    endpoint = client.get_endpoint(endpoint_id)
    scorer = Scorer(client, endpoint, settings)
    try:
        result = scorer.score(body, deployment=deployment)
    finally:
        scorer.close()
    return {"endpoint": endpoint_id, **result.to_dict()}


def plan_invoke(endpoint_id: str, body: dict[str, Any], *, deployment: str | None = None) -> dict[str, Any]:
    """``--what-if``: the scoring request without its credential (the endpoint's scoring URI is read at run time)."""
    headers = {"Authorization": "Bearer <key or token per authMode>"}
    if deployment:
        headers[DEPLOYMENT_HEADER] = deployment
    return {"whatIf": True, "method": "POST", "url": f"<scoringUri of {endpoint_id}>", "headers": headers, "body": body}
