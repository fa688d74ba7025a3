"""The output layer: JSON (alone on stdout) for scripts, tables for people.

Progress, logs and warnings go to stderr. The format is chosen by ``-o``, never by
whether stdout is a terminal, so scripts get the same bytes everywhere.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import UsageError
from .redact import redact

FORMATS = ("table", "json")


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
    if output == "json":
        stream.write(to_json(data) + "\n")
        stream.flush()
        return
    if table is not None and not query:
        table(data)
        return
    render_table(data, columns=columns, stream=stream)


def render_table(data: Any, *, columns: Sequence[str] | None = None, stream: Any = None, title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # plain text: "[trained model]" is not Rich markup

    console = Console(file=stream or sys.stdout, soft_wrap=True)
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        cols = list(columns or _columns(data))
        t = Table(title=title, show_lines=False)
        for c in cols:
            t.add_column(c, overflow="fold")
        for row in data:
            t.add_row(*(Text(_cell(row.get(c))) for c in cols))
        if not data:
            console.print("(none)")
            return
        console.print(t)
    elif isinstance(data, dict):
        t = Table(show_header=False, title=title)
        t.add_column("key", style="bold")
        t.add_column("value", overflow="fold")
        for k, v in data.items():
            t.add_row(Text(str(k)), Text(_cell(v)))
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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)[:200]
    return str(value)


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
