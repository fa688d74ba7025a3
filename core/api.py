"""The public library API: what every CLI command is a thin layer over.

    from amlws import api
    host = api.open_host()
    target = host.resolve("/subscriptions/.../webServices/mysvc")
    definition = host.get_definition(target)
    patched = host.patch_ilearner(definition, api.ModelLocation.from_uri(uri))
    result = api.update(host, target, patched)   # the change path: vetoes, history, send, verify
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import API_KEY_HINT, Settings
from .documents import json_diff, load_definition, parse_json
from .errors import AmlwsError, ConflictError, UsageError
from .fsutil import atomic_write_with, read_text
from .host import Host, get_plugin_manager
from .model import Definition, ModelLocation, ServiceEndpoints, Target, UpdateResult, canonical_json
from .redact import redact, redact_request
from .safety.change import check_file_source, check_same_service, check_unchanged_since_export, update
from .safety.modelcheck import planned_heads, references
from .safety.unmask import restore_masked

__all__ = [
    "Definition",
    "Host",
    "ModelLocation",
    "Settings",
    "Target",
    "UpdateResult",
    "confirm",
    "definition_diff",
    "export_to_file",
    "load_definition",
    "model_location_from",
    "open_host",
    "parse_json",
    "patch_file",
    "patch_model",
    "plan_update",
    "redact_request",
    "service_endpoint",
    "update",
    "update_conflicts",
    "write_json",
    "written_model_uri",
]


def open_host(settings: Settings | None = None, *, load_entrypoints: bool = True, pm: Any = None) -> Host:
    """A :class:`Host` with the installed plugins loaded (or the given plugin manager)."""
    settings = settings or Settings.load()
    return Host(pm or get_plugin_manager(load_entrypoints=load_entrypoints), settings)


def write_json(path: str | Path, data: Any, *, force: bool = False, settings: Settings | None = None) -> Path:
    """Write JSON atomically (2-space indent, UTF-8, no BOM), asking before overwriting.

    A new file is 0600 on POSIX: definitions (export, import, patch-ilearner) and results carry SAS
    tokens and sometimes API keys (docs/safety.md); an existing file keeps the mode its owner gave it."""
    p = Path(path)
    if p.exists() and not force:
        if p.is_dir():
            raise UsageError(f"output path is a directory: {p}", hint="give a file path")
        confirm(settings, f"{p} exists. Overwrite it?", hint="pass --force to overwrite the output file")
    return atomic_write_with(p, lambda fh: write_json_stream(data, fh), mode=None if p.exists() else 0o600)


def write_json_stream(data: Any, fh: Any, *, batch: int = 8192) -> None:
    """``json.dumps(data, indent=2, ensure_ascii=False) + "\\n"`` as UTF-8 into a binary file, in
    batches: a 50 MB definition is never one string (nor a list of millions of pieces) in memory."""
    pieces: list[str] = []
    for chunk in json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(data):
        pieces.append(chunk)
        if len(pieces) >= batch:
            fh.write("".join(pieces).encode("utf-8"))
            pieces.clear()
    pieces.append("\n")
    fh.write("".join(pieces).encode("utf-8"))


def export_to_file(host: Host, definition: Definition, path: str | Path, *, force: bool = False, include_keys: bool = False) -> Path:
    """``Export-AzMlWebService -OutputFile``: the backend's export document, written atomically."""
    return write_json(path, host.export(definition, include_keys=include_keys), force=force, settings=host.settings)


def confirm(settings: Settings | None, question: str, *, hint: str = "pass --yes to confirm") -> None:
    """Ask on a terminal; refuse (exit 2) when stdin is not a terminal and ``--yes`` was not given."""
    if settings is not None and settings.yes:
        return
    if settings is None or not settings.interactive:
        raise UsageError(f"{question.rstrip('?')}: confirmation needed but stdin is not a terminal", hint=hint)
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise AmlwsError("cancelled", hint="nothing was changed")




def service_endpoint(
    host: Host,
    kind: str,
    *,
    url: str | None = None,
    target: str | None = None,
    backend: str | None = None,
    options: dict[str, Any] | None = None,
    api_key: str | None = None,
    include_key: bool = True,
    key_setting: str = "api_key",
    key_hint: str = API_KEY_HINT,
    definition: Definition | None = None,
) -> tuple[str, str | None]:
    """The BES (``kind="bes"``) or RRS (``"rrs"``) URL of a web service, and the key to call it with.

    Either ``url`` (a BES/RRS URL, with the ``key_setting`` setting as its key) or a web service:
    ``target`` and/or the naming ``options`` (``resource_group``/``name``, ...), whose backend says
    where its BES/RRS live and gives its own key (``amlws_service_endpoints``). A ``url`` that a
    backend claims (a resource ID, a management URL...) is taken as the web service.
    Key order: ``api_key`` > the service's own key > the ``key_setting`` setting (or prompt).

    :param include_key: find the key (``False`` under ``--what-if``: the key is then ``None``).
    :param definition: the live definition of the target, when the caller has just read it.
    :raises UsageError: both or neither of a URL and a web service were given (exit 2).
    """
    from .errors import NoBackendError

    if kind not in ("bes", "rrs"):
        raise ValueError(f"kind must be 'bes' or 'rrs', not {kind!r}")
    named = bool(target) or any(v is not None for v in (options or {}).values())
    if url and named:
        raise UsageError("give the URL (--url) or the web service, not both",
                         hint="a web service (any backend's target, or the options naming one) is enough: amlws finds its URLs")
    if url and not named:
        try:
            resolved = host.resolve(url, backend=backend)
        except NoBackendError:
            resolved = None
        if resolved is None:
            key = api_key or (host.settings.require(key_setting, hint=key_hint, secret=True) if include_key else None)
            return url, key
        target = url
    if not url and not named:
        raise UsageError(
            "no web service or URL given",
            hint="pass the web service (a target of any backend: amlws plugins lists them), or --url",
        )
    resolved = host.resolve(target, backend=backend, options=options)
    endpoints: ServiceEndpoints = host.service_endpoints(resolved, include_key=include_key and not api_key, definition=definition)
    found = endpoints.bes_url if kind == "bes" else endpoints.rrs_url
    key = api_key or endpoints.api_key
    if key is None and include_key:
        key = host.settings.require(key_setting, hint=key_hint, secret=True)
    return found, key


def model_location_from(
    *,
    uri: str | None = None,
    bes_result: Any = None,
    output_name: str | None = None,
    base_location: str | None = None,
    relative_location: str | None = None,
    sas_blob_token: str | None = None,
) -> ModelLocation:
    """A :class:`ModelLocation` from a blob URI, a BES job status/result, or explicit parts.

    :param bes_result: a BES status document (with ``Results``), one ``Results.<output>``
        object, or a path/JSON string of either.
    :param output_name: which BES output to use when there are several (default: the one ending in ``.ilearner``).
    """
    given = sum(x is not None for x in (uri, bes_result, base_location or relative_location))
    if given != 1:
        raise UsageError(
            "give the new model as exactly one of --uri, --bes-result, or --base-location with --relative-location",
            hint="e.g. --uri 'https://ACCOUNT.blob.core.windows.net/CONTAINER/model.ilearner?SAS', or --bes-result with the training job's result")
    if uri is not None:
        return ModelLocation.from_uri(uri)
    if bes_result is not None:
        return _location_from_bes(bes_result, output_name)
    if not base_location or not relative_location:
        raise UsageError("--base-location and --relative-location go together",
            hint='give both, e.g. --base-location https://ACCOUNT.blob.core.windows.net/ --relative-location CONTAINER/model.ilearner')
    return ModelLocation(base_location, relative_location, sas_blob_token or "")


def _location_from_bes(value: Any, output_name: str | None) -> ModelLocation:
    if isinstance(value, (str, Path)):
        text = str(value)
        if not text.lstrip().startswith("{"):
            text = read_text(text, what="BES result file")
        value = parse_json(text, "BES result")
    if not isinstance(value, dict):
        raise UsageError("the BES result must be a JSON object",
            hint="give the training job's result (amlws jobs status JOB -o json), or one of its Results entries")
    lowered = {k.lower(): v for k, v in value.items()}
    results = lowered.get("results")
    if results is None and isinstance(lowered.get("result"), dict):
        results = {"Result": lowered["result"]}  # the 2015 legacy status: one "Result" (REFERENCE §4.3)
    if results is None and "relativelocation" in lowered:
        return ModelLocation.from_bes_result(value)
    if not isinstance(results, dict) or not results:
        raise UsageError("the BES result has no Results", hint="use the status of a Finished job (amlws jobs status)")
    if output_name:
        if output_name not in results:
            raise UsageError(f"no BES output named {output_name!r}", hint="outputs: " + ", ".join(results))
        return ModelLocation.from_bes_result(results[output_name])
    learners = [
        v
        for v in results.values()
        if isinstance(v, dict)
        and str({k.lower(): x for k, x in v.items()}.get("relativelocation", "")).lower().endswith(".ilearner")
    ]
    if len(learners) != 1:
        raise UsageError(
            "cannot tell which BES output is the trained model", hint="pass --output-name (outputs: " + ", ".join(results) + ")"
        )
    return ModelLocation.from_bes_result(learners[0])


def definition_diff(old: dict[str, Any] | None, new: dict[str, Any], *, fromfile: str = "live", tofile: str = "new") -> str:
    """Unified diff of two definitions as sorted, indented JSON (secrets redacted): :func:`amlws.documents.json_diff`."""
    return json_diff(old, new, fromfile=fromfile, tofile=tofile)


def plan_update(
    host: Host, target: Target, definition: Definition, *, live_document: dict[str, Any] | None = None,
    live: Definition | None = None, check_model: bool = False,
) -> dict[str, Any]:
    """What ``--what-if`` prints for an update: the requests and a diff; sends nothing that changes state.

    With ``check_model`` (and ``live``), the storage ``HEAD`` of each changed model blob that ``update``
    sends before the change (:func:`amlws.safety.modelcheck.planned_heads`) is listed after the first reads."""
    requests = host.plan_update(target, definition, live=live)
    if check_model:
        checked = restore_masked(definition, live) if live is not None else definition  # as update compares it
        heads = planned_heads(host, checked, live, head=True)
        reads = next((i for i, r in enumerate(requests) if r.get("method") != "GET"), len(requests))
        requests = requests[:reads] + heads + requests[reads:]
    return {
        "whatIf": True,
        "target": target.id,
        "requests": [redact_request(r) for r in requests],
        "diff": definition_diff(live_document, definition.document),
    }


def written_model_uri(host: Host, patched: Definition, location: ModelLocation) -> str:
    """The trained-model reference ``patched`` now holds for ``location``, as the backend wrote it
    (an asset URI built from a BES result may have no SAS; another backend's reference keeps it)."""
    for ref in references(host, patched).values():
        if ref.blob_url == location.blob_url:
            return ref.uri
    return location.uri


def patch_model(
    host: Host, definition: Definition, model: str, *, selector: str | None = None, allow_http: bool = False
) -> tuple[Definition, str]:
    """``amlws patch-model``: point ``definition`` at the model reference ``model`` as its backend
    reads one (:meth:`Host.patch_model`: a model version for a backend that takes versions, a
    ``.ilearner`` location for a Studio backend). Local: nothing is sent.

    :returns: the patched definition, and the reference it now holds as the backend wrote it.
    """
    patched = host.patch_model(definition, model, selector=selector, allow_http=allow_http)
    before = {r["selector"]: r["uri"] for r in host.model_references(definition)}
    changed = [r["uri"] for r in host.model_references(patched) if before.get(r["selector"]) != r["uri"]]
    return patched, changed[0] if len(changed) == 1 else model


def patch_file(
    host: Host,
    definition_file: str | Path,
    patch: Callable[[Definition], tuple[Definition, str]],
    *,
    output_file: str | Path | None = None,
    backend: str | None = None,
) -> dict[str, Any]:
    """Read an exported definition, ``patch`` it (``patch-model``, ``patch-ilearner``) and write it
    atomically, in place unless ``output_file``; an ``output_file`` keeps the record of which service
    the input was exported from. Under ``--what-if`` nothing is written.

    :param patch: gives the patched definition and the model reference it now holds.
    :returns: ``{"file", "backend", "modelUri"}`` (the reference redacted), or under ``--what-if``
        ``{"whatIf", "wouldWrite", "diff"}``.
    """
    definition = load_definition(host, input_file=definition_file, backend=backend)
    patched, model_uri = patch(definition)
    out = output_file or definition_file
    if host.settings.what_if:
        return {"whatIf": True, "wouldWrite": str(out),
                "diff": definition_diff(definition.document, patched.document, fromfile=str(definition_file), tofile=str(out))}
    write_json(out, patched.document, force=True if output_file is None else host.settings.yes, settings=host.settings)
    from .safety.rollback import carry_file_source  # safety.rollback is not needed at start-up

    carry_file_source(definition_file, out)
    return {"file": str(out), "backend": patched.backend, "modelUri": redact(model_uri)}


def update_conflicts(
    host: Host, target: Target, definition: Definition, live: Definition, *, file: str | Path | None = None
) -> list[str]:
    """Why ``amlws update`` would refuse (exit 5) without ``--force``: the file was exported from
    another target, the definition describes another service, or the service changed since export.
    For ``--what-if``, which reports them instead of stopping."""
    checks = [lambda: check_unchanged_since_export(host, target, live), lambda: check_same_service(host, target, definition, live)]
    if file is not None:
        checks.insert(0, lambda: check_file_source(target, file, force=bool((host.settings.flags or {}).get("force"))))
    found = []
    for check in checks:
        try:
            check()
        except ConflictError as exc:
            found.append(exc.message)
    return found


def apply_query_if(settings: Settings | None, data: Any) -> Any:
    """Apply the invocation's ``--query`` to a document printed as raw JSON."""
    from .output import apply_query

    return apply_query(data, settings.query if settings else None)


def check_unchanged(expected: Definition, live: Definition) -> None:
    """Optimistic concurrency: refuse when the live definition changed since it was read."""
    if canonical_json(expected.document) != canonical_json(live.document):
        raise ConflictError(
            f"{live.target.id if live.target else 'the service'} changed since it was read",
            hint="export it again and re-apply your change, or pass --force",
        )
