"""History, diff and rollback as library functions (``amlws history|diff|rollback`` are thin over these).

- :func:`note_export` remembers what ``amlws export`` wrote, for the changed-since-export check
  of ``amlws update`` (:func:`amlws.safety.change.check_unchanged_since_export`), and which target the
  file came from (:func:`check_file_source` refuses to send it to another one);
- :func:`history` lists a target's revisions (the definitions saved before each change);
- :func:`diff` is a unified diff of canonical JSON between the live definition and a revision
  or a local file;
- :func:`rollback` restores a revision through the change path (:func:`amlws.safety.change.update`),
  which records its own history entry first.

History files never hold secrets: API keys are removed and SAS signatures, storage keys and
tokens are masked. A masked value that is unchanged on the live service is taken from it; a
SAS signature that is not (the revision used another model blob) is made afresh when the
storage connection string holds that account's key (:func:`fresh_model_sas`), else it must be
given again with ``sas_token``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..documents import load_definition
from ..errors import AmlwsError, NotFoundError, UsageError
from ..model import Definition, ModelLocation, Target, canonical_json
from ..redact import redact_obj, redact_request
from .change import check_file_source, fingerprint, update
from .history import History, file_source, record_export, record_file_source, safe_definition
from .unmask import is_masked, restore_masked, unmask

log = logging.getLogger("amlws")

#: ``check_file_source`` (in :mod:`.change`) and ``unmask``/``restore_masked``/``is_masked`` (in :mod:`.unmask`)
#: stay importable from here, where they used to live.
__all__ = ["carry_file_source", "check_file_source", "diff", "history", "is_masked", "note_export", "restore_masked",
           "rollback", "unmask"]


def note_export(host: Any, target: Target, definition: Definition, *, file: str | None = None) -> None:
    """Record the fingerprint of an exported definition, and the file's source target (never fails
    the export itself)."""
    try:
        record_export(target.id, fingerprint(host, definition), file=file)
        if file is not None:
            record_file_source(file, target.id)
    except (AmlwsError, OSError) as exc:
        log.warning("cannot record the export of %s for the changed-since-export check: %s", target.id, exc)


def carry_file_source(source_file: str | Path, written: str | Path) -> None:
    """``patch-ilearner IN -f OUT``: OUT comes from the same service as IN (never fails the patch)."""
    try:
        origin = file_source(source_file)
        if origin is not None and Path(source_file).resolve() != Path(written).resolve():
            record_file_source(written, origin)
    except (AmlwsError, OSError) as exc:
        log.warning("cannot record where %s came from: %s", written, exc)


def history(host: Any, target: Target, *, revision: int | None = None) -> Any:
    """Revisions of ``target``, oldest first, each with the trained models its saved definition
    pointed at (``models``, without SAS); with ``revision``, that whole entry (its definition included)."""
    store = History()
    if revision is not None:
        entry = store.get(target.id, revision)
        status = store.status(target.id, revision)
        return {**entry, "status": status.get("status", "unknown (no outcome recorded)"), "outcome": status,
                "models": models_of(host, entry.get("backend") or target.backend, entry.get("definition"))}
    rows = store.list(target.id, definitions=True)
    if not rows:
        raise NotFoundError(f"no history for {target.id}", hint="amlws records history before each change it makes")
    out = []
    for row in rows:
        backend, document = row.pop("backend", None), row.pop("definition", None)
        out.append({**row, "models": models_of(host, backend or target.backend, document)})
    return out


def models_of(host: Any, backend: str, document: Any) -> list[dict[str, str]]:
    """``[{"name", "uri"}]``: the trained models a (saved) definition points at, SAS left out.

    Asked of the backend (``amlws_model_reference``); ``[]`` when it cannot say (no definition,
    a backend that is not installed any more)."""
    if not isinstance(document, dict):
        return []
    try:
        refs = host.model_references(Definition(backend, document))
    except AmlwsError as exc:
        log.debug("no model references for a %s definition: %s", backend, exc.message)
        return []
    return [{"name": r["name"], "uri": r["uri"].split("?", 1)[0]} for r in refs]


def unified(old: Any, new: Any, fromfile: str, tofile: str) -> str:
    """The diff of two history-safe documents (:func:`amlws.documents.json_diff`, not redacted again)."""
    from ..documents import json_diff

    return json_diff(old, new, fromfile=fromfile, tofile=tofile, redact=False)


def diff(host: Any, target: Target, *, revision: int | None = None, file: str | None = None) -> dict[str, Any]:
    """Unified diff from the live definition to a history revision (default: the latest) or a local file.

    Revisions are compared with the live definition as history stores it (secrets masked);
    a file with the live definition's export document (what ``amlws export`` writes).
    """
    if revision is not None and file is not None:
        raise UsageError("give at most one of --revision and --file",
            hint='compare with a revision (--revision N) or with a local file (--file FILE), not both')
    if file is not None:
        local = load_definition(host, input_file=file, backend=target.backend)
        live = host.get_definition(target)
        old, new, tofile = redact_obj(host.export(live)), redact_obj(local.document), str(file)
    else:
        entry = History().get(target.id, revision)
        live = host.get_definition(target)
        old = view(host, target.backend, safe_definition(live.document))
        new, tofile = view(host, target.backend, entry.get("definition")), f"revision {entry['revision']}"
    text = unified(old, new, f"live {target.id}", tofile)
    return {"target": target.id, "from": "live", "to": tofile, "changed": bool(text), "diff": text}


def view(host: Any, backend: str, document: Any) -> Any:
    """A definition as its backend exports it (read-only fields such as ``modifiedOn`` left out), for diffs."""
    if document is None:
        return None
    try:
        return host.export(Definition(backend, document))
    except AmlwsError:
        return document


def fresh_model_sas(host: Any, backend: str, document: Any, live_document: Any) -> tuple[Any, list[str]]:
    """Give each trained model whose SAS history masked a fresh read SAS, when the storage
    connection string (setting ``storage_connection_string``) has the key of its account.

    The backend says where its models are (``amlws_model_reference``) and writes the new
    reference (``amlws_patch_ilearner``); core learns no field names.

    :returns: the document and the paths of masked SAS values still left (as :func:`unmask`).
    """
    from ..azure.blob import fresh_read_sas, storage_connection_string

    connection_string = storage_connection_string(host.settings, required=False)
    definition = Definition(backend, document)
    if connection_string:
        for ref in host.model_references(definition):
            if not is_masked(ref["uri"]):
                continue
            blob_url = ref["uri"].split("?", 1)[0]
            token = fresh_read_sas(connection_string, blob_url)
            if token is None:
                log.info("the storage connection string is not for %s: no fresh SAS for it", blob_url)
                continue
            definition = host.patch_ilearner(definition, ModelLocation.from_uri(blob_url + token), selector=ref["selector"] or None)
            log.info("made a fresh read SAS for %s (history keeps no SAS signature)", blob_url)
    return unmask(definition.document, live_document)


def rollback(
    host: Any,
    target: Target,
    *,
    to: int | None = None,
    what_if: bool = False,
    confirm: Callable[[str], None] | None = None,
    sas_token: str | None = None,
) -> dict[str, Any]:
    """Restore the definition saved in revision ``to`` (default: the latest, i.e. undo the last change).

    Goes through the change path (:func:`amlws.safety.change.update`: vetoes, a new history entry, the backend's wait and verify).
    With ``what_if`` it returns the requests and the diff and sends nothing that changes state.
    """
    store = History()
    entry = store.get(target.id, to)
    revision = entry["revision"]
    saved = entry.get("definition")
    if saved is None:
        if entry.get("action") in ("new", "endpoint-add"):
            raise UsageError(f"revision {revision} of {target.id} was recorded before it existed: there is nothing to restore",
                             hint=f"to undo its creation, remove it with its backend's commands (amlws {target.backend} --help)")
        raise UsageError(f"revision {revision} of {target.id} holds no definition (the backend could not read it)",
                         hint="pick another revision with --to (amlws history TARGET)")
    if entry.get("backend") and entry["backend"] != target.backend:
        raise UsageError(f"revision {revision} is a {entry['backend']} definition but the target is a {target.backend} target",
            hint='choose a revision of this target (amlws history TARGET)')
    try:
        live = host.get_definition(target)
    except AmlwsError as exc:
        if exc.exit_code != NotFoundError.exit_code:
            raise
        raise NotFoundError(
            f"{target.id} does not exist any more, so revision {revision} cannot be restored by an update: {exc.message}",
            # backend-neutral: each backend's own commands (its group) know how to re-create its targets
            hint=f"re-create it with its backend's commands (amlws {target.backend} --help; amlws history TARGET "
                 f"--revision {revision} -o json holds its definition), then amlws rollback TARGET --to {revision}",
        ) from None
    restored, lost = unmask(saved, live.document, sas_token=sas_token)
    if lost:
        restored, lost = fresh_model_sas(host, target.backend, restored, live.document)
    if lost:
        raise UsageError(
            f"revision {revision} references a model whose SAS signature history does not keep ({', '.join(lost)})",
            hint="pass --sas-token with a read SAS for that blob (amlws blob sas URL makes one), or set "
                 "storage_connection_string to its storage account so that amlws makes it",
        )
    change = unified(view(host, target.backend, safe_definition(live.document)),
                     view(host, target.backend, safe_definition(restored)), f"live {target.id}", f"revision {revision}")
    base = {"target": target.id, "revision": revision, "diff": change}
    if not change:
        return {**base, "rolledBack": False, "message": f"{target.id} already matches revision {revision}; nothing sent"}
    definition = Definition(target.backend, restored, target)
    if what_if:
        requests = host.plan_update(target, definition, live=live)
        return {**base, "whatIf": True, "requests": [redact_request(r) for r in requests]}
    if confirm is not None:
        confirm(f"Roll {target.id} back to revision {revision} ({entry.get('time')})?")
    result = update(host, target, definition, action="rollback", note=f"rollback to revision {revision}", live=live)
    return {**base, "rolledBack": True, "verified": result.verified, "modelUri": result.model_uri,
            "message": f"{target.id} restored to revision {revision}"}


def same_definition(a: Any, b: Any) -> bool:
    return canonical_json(safe_definition(a)) == canonical_json(safe_definition(b))
