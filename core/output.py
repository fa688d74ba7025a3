"""The output layer: JSON or TSV (alone on stdout) for scripts, tables for people.

Progress, logs and warnings go to stderr. The format is chosen by ``-o``, never by
whether stdout is a terminal, so scripts get the same bytes everywhere. Tables show what
fits and never break an id, URL or GUID across lines (a cut value has "…" where it was cut;
names are never cut, see :func:`render_table`); ``-o json`` keeps every value whole and numbers
at full precision, ``-o tsv`` prints values as ``az`` does and ``-o none`` prints nothing (the
exit code is the result).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import UsageError
from .redact import redact

#: The ``-o`` formats, as in ``az`` (which also has yaml/jsonc).
FORMATS = ("table", "json", "tsv", "none")

#: Significant digits of a float in a table (``-o json`` and ``-o tsv`` keep full precision).
TABLE_DIGITS = 4

#: A string a table shows as a number: a decimal point or an exponent (RRS returns scores as
#: strings). Integers ("42") and ids are left as they are.
_DECIMAL = re.compile(r"[+-]?(?:(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)")

# How a table gives way when it is wider than the terminal. Each column has a kind:
#: a name column (``name``, ``key``) identifies the row: never cut, never wrapped.
KEY_COLUMNS = frozenset({"name", "key"})
#: a column whose values all fit in this many characters (state, location, a number) never
#: wraps; it is cut at the end with "…" only as a last resort.
SHORT_MAX = 24
# A longer column of single tokens (ids, URLs, GUIDs, JSON) never wraps: it is cut in the middle
# with "…", keeping the start and the distinguishing end. A longer column of words (a title)
# wraps at spaces. Text columns narrow first, then id columns, then a short column's header is
# cut to its values' width ("provisioningS…"), then text and ids again, and short values last.
# (A floor of None: the column's widest value.)
_SHRINK_STEPS: tuple[tuple[str, int | None], ...] = (
    ("text", 16), ("id", 24), ("short", None), ("text", 10), ("id", 10), ("short", 4))


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
    tsv: Callable[[Any], Any] | None = None,
    columns: Sequence[str] | None = None,
    stream: Any = None,
) -> None:
    """Print a command's result.

    :param table: custom renderer for the table format (gets the queried data).
    :param tsv: for ``-o tsv`` without ``--query``, turns the result into the rows to print (a
        list of lists), when the result's own shape would print nothing useful (``invoke``'s
        nested tables). As for ``table``, a ``--query`` prints the queried data instead.
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
        stream.write(to_tsv(tsv(data) if tsv is not None and not query else data, sort_keys=not query))
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
    """A number as a table shows it: floats, and strings that are decimals, to
    :data:`TABLE_DIGITS` significant digits."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        value = float(value)
    if isinstance(value, float):
        return f"{value:.{TABLE_DIGITS}g}"
    return str(value)


def render_table(data: Any, *, columns: Sequence[str] | None = None, stream: Any = None, title: str | None = None) -> None:
    """A list of dicts as a table with a header, a dict as key/value rows, anything else as text.

    The table fits the terminal: see :data:`KEY_COLUMNS` and :data:`SHORT_MAX` for which
    columns give way (a name never does) and how (words wrap, ids are cut in the middle).
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # plain text: "[trained model]" is not Rich markup

    console = Console(file=stream or sys.stdout, soft_wrap=True)
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        if not data:
            console.print("(none)")
            return
        cols = list(columns or _columns(data))
        cells = {c: [_cell(row.get(c)) for row in data] for c in cols}
        kinds = {c: _kind(c, cells[c], [row.get(c) for row in data]) for c in cols}
        values = {c: max([1] + [_width(v) for v in cells[c]]) for c in cols}
        widths = _fit({c: max(_width(c), values[c]) for c in cols}, values, kinds, console.width - 3 * len(cols) - 1)
        t = Table(title=title, show_lines=False)
        for c in cols:
            t.add_column(Text(c), width=widths[c], no_wrap=kinds[c] != "text", overflow="ellipsis")
        for i in range(len(data)):
            t.add_row(*(_fit_cell(cells[c][i], kinds[c], widths[c]) for c in cols))
        console.print(t)
    elif isinstance(data, dict):
        t = Table(show_header=False, title=title)
        key_width = max((_width(str(k)) for k in data), default=1)
        value_width = max(1, console.width - key_width - 7)
        t.add_column("key", style="bold", no_wrap=True, min_width=key_width)
        t.add_column("value", overflow="ellipsis", max_width=value_width)
        for k, v in data.items():
            cell = _cell(v)
            t.add_row(Text(str(k)), _fit_cell(cell, _kind("", [cell], [v]), value_width))
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


def _width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.splitlines()), default=0)


def _kind(name: str, cells: list[str], values: list[Any]) -> str:
    """``key``, ``short``, ``id`` (single tokens: ids, URLs, GUIDs, JSON) or ``text`` (words)."""
    if name.lower() in KEY_COLUMNS:
        return "key"
    if max((_width(c) for c in cells), default=0) <= SHORT_MAX:
        return "short"
    if any(isinstance(v, (dict, list)) for v in values) or not any(any(ch.isspace() for ch in c) for c in cells):
        return "id"
    return "text"


def _fit(widths: dict[str, int], values: dict[str, int], kinds: dict[str, str], room: int) -> dict[str, int]:
    """Column widths that fit ``room`` characters: narrow the widest column of each kind in
    :data:`_SHRINK_STEPS` order, one character at a time; key columns keep their width."""
    widths = dict(widths)
    for kind, floor in _SHRINK_STEPS:
        while sum(widths.values()) > room:
            narrowable = [c for c in widths if kinds[c] == kind and widths[c] > (values[c] if floor is None else floor)]
            if not narrowable:
                break
            top = max(narrowable, key=lambda c: widths[c])
            # down to the next widest column of its kind (they then narrow in turn), its floor, or what fits
            lower = [widths[top] - (sum(widths.values()) - room), values[top] if floor is None else floor]
            lower += [widths[c] for c in narrowable if c != top]
            widths[top] = min(widths[top] - 1, max(lower))
    return widths


def _fit_cell(cell: str, kind: str, width: int) -> Any:
    """A table cell: words may wrap; a token (an id, a URL, JSON) stays on one line, cut in the
    middle with "…" when longer than its column (``-o json`` has it whole)."""
    from rich.text import Text  # plain text: "[trained model]" is not Rich markup

    if kind == "id":
        return Text(cut_middle(cell, width), no_wrap=True, overflow="ellipsis")
    return Text(cell, no_wrap=kind != "text", overflow="ellipsis")


def cut_middle(value: str, width: int) -> str:
    """``value`` in ``width`` characters: whole if it fits, else its start and its end around "…".

    The end distinguishes ids (``…/webServices/NAME``), so it gets at least two thirds of the
    room. A path keeps whole segments: ``/subscriptions/…/bike-rental-predictive``, or only its
    end (``…/webServices/bike-rental-predictive``) when its first segment does not fit in a third.
    """
    if len(value) <= width:
        return value
    if width <= 1:
        return "…"[:width]
    room = width - 1
    head = value[: room // 3]
    if "/" in value[1:]:
        head = head[: head.rfind("/") + 1]
        if len(head) <= 1:
            head = ""
    tail = value[len(value) - (room - len(head)):]
    slash = tail.find("/", 1)
    if 0 < slash <= len(tail) // 2:
        tail = tail[slash:]
    return head + "…" + tail


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
    # azure-core logs requests at DEBUG too; with --debug they go through the same redaction.
    # Without it, a handler left by an earlier --debug call in this process (scripts and tests
    # run several commands in one interpreter) is removed: it may write to a closed stream.
    az = logging.getLogger("azure")
    for h in list(az.handlers):
        if getattr(h, "_amlws", False):
            az.removeHandler(h)
    if debug:
        az.setLevel(logging.DEBUG)
        az.addHandler(handler)
        az.propagate = False
    elif getattr(az, "_amlws_debug", False):
        az.setLevel(logging.NOTSET)
        az.propagate = True
    az._amlws_debug = debug  # type: ignore[attr-defined]
