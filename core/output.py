"""The output layer: JSON or TSV (alone on stdout) for scripts, tables for people.

Progress, logs and warnings go to stderr. The format is chosen by ``-o``, never by
whether stdout is a terminal, so scripts get the same bytes everywhere. Tables show what
fits and never break an id, URL or GUID across lines (a cut value ends in "…"); ``-o json``
keeps every value whole and numbers at full precision, ``-o tsv`` prints values as ``az`` does
and ``-o none`` prints nothing (the exit code is the result).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import UsageError
from .redact import redact

#: The ``-o`` formats, as in ``az`` (which also has yaml/jsonc).
FORMATS = ("table", "json", "tsv", "none")

#: Significant digits of a float in a table (``-o json`` and ``-o tsv`` keep full precision).
TABLE_DIGITS = 4


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=_default)


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def apply_query(data: Any, query: str | None) -> Any:
    """Apply a JMESPath ``--query`` (as in ``az``) to the JSON result."""
    if not query:
        return data
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.search(query, json.loads(to_json(data)))
    except JMESPathError as exc:
        first = (str(exc).splitlines() or [""])[0].rstrip(":")
        raise UsageError(f"invalid --query {query!r}: {first}", hint="see https://jmespath.org for the syntax") from None


def emit(
    data: Any,
    *,
    output: str = "table",
    query: str | None = None,
    table: Callable[[Any], None] | None = None,
    columns: Sequence[str] | None = None,
    stream: Any = None,
) -> None:
    """Print a command's result.

    :param table: custom renderer for the table format (gets the queried data).
    :param columns: for a list of dicts, which keys to show as table columns.
    """
    stream = stream or sys.stdout
    data = apply_query(data, query)
    if output == "none":
        return
    if output == "json":
        stream.write(to_json(data) + "\n")
        stream.flush()
        return
    if output == "tsv":
        stream.write(to_tsv(data, sort_keys=not query))
        stream.flush()
        return
    if table is not None and not query:
        table(data)
        return
    render_table(data, columns=columns, stream=stream)


def emit_document(data: Any, *, output: str = "table", query: str | None = None, stream: Any = None) -> None:
    """Print a document (an exported definition): JSON for ``-o table`` too, since the JSON *is* the
    document; ``-o tsv`` and ``-o none`` as for any result."""
    emit(data, output="json" if output == "table" else output, query=query, stream=stream)


def to_tsv(data: Any, *, sort_keys: bool = True) -> str:
    """``-o tsv`` as ``az`` writes it: values only, no header, tab-separated, one line per list item.

    In a row, an object's values come in key order (sorted, or the ``--query``'s order:
    ``sort_keys=False``); a nested object is an empty field and a nested list its length, so
    every line of a list has the same columns. ``null`` is ``None`` (as az); booleans are
    ``true``/``false``; numbers keep full precision.
    """
    data = json.loads(to_json(data))
    lines = [_tsv_row(item, sort_keys) for item in (data if isinstance(data, list) else [data])]
    return "".join(line + "\n" for line in lines)


def _tsv_row(item: Any, sort_keys: bool) -> str:
    if isinstance(item, dict):
        values = [item[k] for k in sorted(item)] if sort_keys else list(item.values())
    elif isinstance(item, list):
        values = item
    else:
        return _tsv_field(item)
    return "\t".join(_tsv_field(v) for v in values)


def _tsv_field(value: Any) -> str:
    if isinstance(value, dict):
        return ""
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def format_number(value: Any) -> str:
    """A number as a table shows it: floats to :data:`TABLE_DIGITS` significant digits."""
    if isinstance(value, float):
        return f"{value:.{TABLE_DIGITS}g}"
    return str(value)


def render_table(data: Any, *, columns: Sequence[str] | None = None, stream: Any = None, title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # plain text: "[trained model]" is not Rich markup

    console = Console(file=stream or sys.stdout, soft_wrap=True)
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        cols = list(columns or _columns(data))
        t = Table(title=title, show_lines=False)
        for c in cols:
            t.add_column(c, overflow="ellipsis")
        for row in data:
            t.add_row(*(_text(row.get(c)) for c in cols))
        if not data:
            console.print("(none)")
            return
        console.print(t)
    elif isinstance(data, dict):
        t = Table(show_header=False, title=title)
        t.add_column("key", style="bold")
        t.add_column("value", overflow="ellipsis")
        for k, v in data.items():
            t.add_row(Text(str(k)), _text(v))
        console.print(t)
    elif data is None:
        pass
    else:
        console.print(_cell(data), markup=False)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for k, v in row.items():
            if k not in cols and not isinstance(v, (dict, list)):
                cols.append(k)
    return cols[:8]


def _text(value: Any) -> Any:
    """A table cell: words may wrap, a token longer than the column (an id, a URL) is cut with "…",
    never broken across lines; a JSON cell stays on one line (``-o json`` has it whole)."""
    from rich.text import Text  # plain text: "[trained model]" is not Rich markup

    nested = isinstance(value, (dict, list))
    return Text(_cell(value), no_wrap=nested, overflow="ellipsis")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=_default)
    return format_number(value)


def info(message: str) -> None:
    """A human progress line on stderr (never stdout)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(*, verbose: bool = False, debug: bool = False) -> None:
    """Logs to stderr, every line redacted; ``--debug`` traces HTTP too."""
    root = logging.getLogger("amlws")
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    root.setLevel(level)
    for h in list(root.handlers):
        if getattr(h, "_amlws", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._amlws = True  # type: ignore[attr-defined]
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s" if debug else "%(levelname)s: %(message)s"))
    root.addHandler(handler)
    root.propagate = False
    if debug:
        # azure-core logs requests at DEBUG too; route them through the same redaction.
        az = logging.getLogger("azure")
        for h in list(az.handlers):
            if getattr(h, "_amlws", False):
                az.removeHandler(h)
        az.setLevel(logging.DEBUG)
        az.addHandler(handler)
        az.propagate = False
