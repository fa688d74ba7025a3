"""Reading a definition document: JSON parsed with an error that names the place and line,
then validated and normalised by its backend (``Import-AzMlWebService``); and the one diff of
two documents (``--what-if``, ``amlws diff``, ``rollback --what-if``).

Below :mod:`amlws.api` (which re-exports it) so that the safety modules (``amlws diff --file``)
read files the same way without importing the public API on top of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AmlwsError, UsageError
from .fsutil import read_text
from .model import Definition

if TYPE_CHECKING:
    from .host import Host

__all__ = ["json_diff", "load_definition", "parse_json"]


def json_diff(old: Any, new: Any, *, fromfile: str = "live", tofile: str = "new", redact: bool = True) -> str:
    """Unified diff of two documents as sorted, indented JSON (``None`` is the empty document).

    :param redact: mask secrets first (SAS signatures, keys); off only for documents already made
        safe (history keeps them without keys), so that a diff shows what history holds.
    """
    import difflib

    from .redact import redact_obj

    def lines(doc: Any) -> list[str]:
        if doc is None:
            return []
        shown = redact_obj(doc) if redact else doc
        return json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False).splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(old), lines(new), fromfile=fromfile, tofile=tofile))


def parse_json(text: str, source: str = "<string>") -> Any:
    """Parse JSON with an error that names the place and the line."""
    if not text.strip():
        raise UsageError(f"{source}: empty definition", hint="the file or string must hold a JSON document")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            hint="fix the JSON (a trailing comma or a missing quote is the usual cause)",
        ) from None


def load_definition(
    host: Host, *, input_file: str | Path | None = None, json_string: str | None = None, backend: str | None = None
) -> Definition:
    """Read, validate and normalise a definition (``Import-AzMlWebService``)."""
    if (input_file is None) == (json_string is None):
        raise UsageError("give exactly one of --input-file and --json-string",
            hint="pass the definition as a file (--input-file FILE) or as inline JSON (--json-string '{...}')")
    if input_file is not None:
        source = str(input_file)
        text = read_text(input_file, what="definition file")
    else:
        source, text = "<json-string>", json_string or ""
    document = parse_json(text, source)
    del text  # a large definition's text need not stay in memory beside its parsed form
    if backend is None and input_file is not None:
        backend = _exported_by(host, input_file)
    return host.import_definition(document, source=source, backend=backend)


def _exported_by(host: Host, file: str | Path) -> str | None:
    """The backend of the target ``amlws export`` wrote ``file`` from (its record), so that its own
    checks read the file first; ``None`` without a record (every backend is asked)."""
    from .safety.history import file_source

    origin = file_source(file)
    if origin is None:
        return None
    try:
        return host.resolve(origin).backend
    except AmlwsError:  # the backend is gone, or the record is stale: ask every backend
        return None
