"""docs/errors.md is right: its exit-code table is ExitCode and the README's table, and its
reference lists every error amlws raises (the table-driven bad-input catalogue is in
tests/e2e/test_safety_bad_inputs.py, against the emulator).

Regenerate the reference part of docs/errors.md after adding or changing an error:

    .venv/bin/python tests/core/test_bad_inputs.py --write
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ERRORS_MD = REPO / "docs" / "errors.md"
README = REPO / "README.md"
BEGIN = "<!-- BEGIN GENERATED REFERENCE: tests/core/test_bad_inputs.py --write -->"
END = "<!-- END GENERATED REFERENCE -->"

#: Where amlws raises errors (the emulator's service side answers HTTP, it does not raise to users).
SOURCES = sorted(
    [p for p in (REPO / "core").rglob("*.py") if "emulator" not in p.parts or p.name == "cli.py"]
    + list((REPO / "plugins").rglob("*.py"))
)


def error_classes() -> dict[str, int]:
    """Name -> exit code for every AmlwsError subclass amlws defines (also outside errors.py)."""
    import importlib

    from amlws import errors

    modules = [errors]
    for name in ("amlws.studio.bes", "amlws.fleet"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:  # pragma: no cover - a module not written yet
            pass
    out = {}
    for mod in modules:
        for attr in dir(mod):
            obj = getattr(mod, attr)
            if isinstance(obj, type) and issubclass(obj, errors.AmlwsError):
                out[attr] = int(obj.exit_code)
    return out


def _text(node: ast.AST | None, field: Callable[[ast.expr], str] | None = None) -> str | None:
    """A message as a template: f-string fields become ``{...}`` placeholders (or what ``field`` makes of them)."""
    if node is None:
        return None
    field = field or (lambda n: "{" + re.sub(r"\s+", " ", ast.unparse(n)) + "}")
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            else:
                parts.append(field(v.value) if isinstance(v, ast.FormattedValue) else "{...}")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left, field), _text(node.right, field)
        return (left or "{...}") + (right or "{...}")
    if isinstance(node, ast.IfExp):
        return _text(node.body, field) or _text(node.orelse, field)
    return field(node)  # type: ignore[arg-type]


def module_constants() -> dict[str, object]:
    """Module-level string (and string tuple) constants of amlws, by name: a hint given as
    ``hint=CONNECTION_STRING_HINT`` is documented by its text."""
    out: dict[str, object] = {}
    for path in SOURCES:
        for stmt in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, node = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                target, node = stmt.target, stmt.value
            else:
                continue
            if not isinstance(target, ast.Name):
                continue
            try:
                value = ast.literal_eval(node)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            if isinstance(value, str) or (isinstance(value, (tuple, list)) and all(isinstance(x, str) for x in value)):
                out.setdefault(target.id, value)
    return out


#: Names of run-time values as the reference shows them (``{exc}`` -> ``<error>``).
_SHOWN_NAMES = {"exc": "error", "e": "error", "p": "path", "k": "key", "v": "value", "i": "N", "n": "N"}
#: Methods that return (a piece of) their receiver: ``{text.splitlines()[0]}`` shows ``<text>``.
_STR_METHODS = {"strip", "rstrip", "lstrip", "splitlines", "split", "lower", "upper", "title", "replace", "casefold"}
#: Calls that only wrap a value (the reference shows the value).
_WRAPPERS = {"redact", "str", "repr", "sorted", "list", "tuple", "set", "int", "float", "abs", "_host"}


def _shown_field(node: ast.expr, consts: dict[str, object]) -> str:
    """A readable placeholder for one f-string field: ``{len(failed)}`` -> ``N``, ``{redact(loc.uri)}``
    -> ``<uri>``, ``{name}`` -> ``<name>``; a module constant (a hint, a list of choices) -> its text."""

    def name(text: str) -> str:
        text = _SHOWN_NAMES.get(text, text.strip("_"))
        return text if text == "N" else f"<{text}>"

    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.Name):
        value = consts.get(node.id)
        if isinstance(value, str):
            return value
        return ", ".join(value) if isinstance(value, (tuple, list)) else name(node.id)
    if isinstance(node, ast.JoinedStr):
        return _text(node, lambda n: _shown_field(n, consts)) or ""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id == "len":
            return "N"
        if isinstance(func, ast.Attribute) and func.attr == "join" and isinstance(func.value, ast.Constant) and node.args:
            arg = node.args[0]
            items = consts.get(arg.id) if isinstance(arg, ast.Name) else None
            if isinstance(items, (tuple, list)):
                return str(func.value.value).join(items)
            return _shown_field(arg, consts)
        if isinstance(func, ast.Name) and func.id in _WRAPPERS and node.args:
            return _shown_field(node.args[0], consts)
        if isinstance(func, ast.Name) and func.id == "type":
            return "<type>"
        if isinstance(func, ast.Attribute) and func.attr == "get" and node.args and isinstance(node.args[0], ast.Constant):
            return name(str(node.args[0].value))  # d.get('name') -> <name>
        if isinstance(func, ast.Attribute) and func.attr in _STR_METHODS:
            return _shown_field(func.value, consts)  # text.rstrip('?') -> <text>
        if node.args:
            return _shown_field(node.args[0], consts)
        return _shown_field(func, consts)
    if isinstance(node, ast.Attribute):
        return "<type>" if node.attr == "__name__" else name(node.attr)
    if isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return name(key.value)
        return _shown_field(node.value, consts)
    if isinstance(node, ast.BoolOp):
        return _shown_field(node.values[0], consts)
    if isinstance(node, ast.IfExp):
        return _shown_field(node.body, consts)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Add) and any(isinstance(x, ast.JoinedStr) or (isinstance(x, ast.Constant) and isinstance(x.value, str))
                                                for x in (node.left, node.right)):
            return _shown_field(node.left, consts) + _shown_field(node.right, consts)
        return "N"
    if isinstance(node, (ast.GeneratorExp, ast.ListComp)):
        return _shown_field(node.elt, consts)
    return "<...>"


def _shown(node: ast.AST | None, consts: dict[str, object]) -> str | None:
    """A message or hint as the reference shows it: readable placeholders, constants as text."""
    return _text(node, lambda n: _shown_field(n, consts))


def raised_errors() -> list[dict[str, object]]:
    """Every ``SomeError(message, hint=...)`` built in amlws's code, with its exit code."""
    classes = error_classes()
    consts = module_constants()
    rows = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else None
            if name not in classes or not node.args:
                continue
            message = _text(node.args[0])
            hint_node = next((k.value for k in node.keywords if k.arg == "hint"), None)
            hint = _text(hint_node)
            if not message or (message.startswith("{") and message.endswith("}") and message.count("{") == 1):
                continue  # a message built elsewhere (e.g. from an HTTP response): documented by status
            rows.append({"module": str(path.relative_to(REPO)), "line": node.lineno, "class": name,
                         "code": classes[name], "message": message, "hint": hint,
                         "shown": _shown(node.args[0], consts), "shown_hint": _shown(hint_node, consts)})
    return rows


def _cell(text: str | None) -> str:
    if not text:
        return ""
    return "`" + text.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def reference() -> str:
    rows = raised_errors()
    out = [BEGIN, "", "## Reference: every error, by module", "",
           "Generated from the source (every `AmlwsError` subclass amlws builds with a fixed message); "
           "`<name>` stands for a value filled in at run time, `N` for a number. The exit code comes from the class.", ""]
    by_module: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        by_module.setdefault(str(r["module"]), []).append(r)
    for module in sorted(by_module):
        out += [f"### `{module}`", "", "| message | exit | error | fix |", "|---|---|---|---|"]
        seen = set()
        for r in by_module[module]:
            key = (r["shown"], r["shown_hint"], r["code"])
            if key in seen:
                continue
            seen.add(key)
            out.append(f"| {_cell(str(r['shown']))} | {r['code']} | {r['class']} | {_cell(r['shown_hint']) if r['shown_hint'] else ''} |")
        out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def write() -> None:
    text = ERRORS_MD.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    ERRORS_MD.write_text(text[:start] + reference().rstrip("\n") + text[end:], encoding="utf-8")


# --- tests ------------------------------------------------------------------------------------------


def table(path: Path) -> dict[int, str]:
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*`?([A-Z_]+)`?\s*\|", path.read_text(encoding="utf-8"), re.MULTILINE)
    return {int(code): name for code, name in rows}


def test_exit_code_tables_agree_with_exitcode():
    from amlws.errors import ExitCode

    expected = {int(c): c.name for c in ExitCode}
    assert table(ERRORS_MD) == expected, "docs/errors.md's exit-code table differs from amlws.errors.ExitCode"
    assert table(README) == expected, "README.md's exit-code table differs from amlws.errors.ExitCode"


def test_readme_and_errors_md_have_the_same_exit_code_table():
    """One table in two places, word for word: the meanings cannot drift apart (issue 12: a missing
    input file was exit 3 in one and 2 in the other)."""
    rows = re.compile(r"^\|\s*(\d+)\s*\|.*$", re.MULTILINE)
    readme = [m.group(0) for m in rows.finditer(README.read_text(encoding="utf-8"))]
    text = ERRORS_MD.read_text(encoding="utf-8")
    section = text[text.index("## Exit codes"):text.index("## HTTP responses")]
    assert readme == [m.group(0) for m in rows.finditer(section)]


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _could_contain(template: str, part: str) -> bool:
    """Whether some message built from ``template`` (``{...}`` filled with anything) contains ``part``,
    with at least a few of ``part``'s characters coming from the template's fixed text, and ``part``
    starting (ending) in fixed text unless a placeholder starts (ends) the message."""
    lits = _PLACEHOLDER.split(template)
    if any(part in lit for lit in lits):
        return True
    need = min(8, len(part))
    for i in range(len(lits)):
        heads = [k for k in range(len(part) + 1) if lits[i].endswith(part[:k])]
        for j in range(i + 1, len(lits)):
            middle = lits[i + 1:j]
            tails = [k for k in range(len(part) + 1) if lits[j].startswith(part[len(part) - k:])]
            for h in heads:
                for t in tails:
                    if h + t > len(part) or h + t + sum(map(len, middle)) < need:
                        continue
                    if (h == 0 and (i > 0 or lits[0])) or (t == 0 and (j < len(lits) - 1 or lits[-1])):
                        continue
                    inner = part[h:len(part) - t]
                    pattern = "(?s).*" + "".join(re.escape(m) + ".*" for m in middle)
                    if re.fullmatch(pattern, inner):
                        return True
    return False


def catalogue() -> list[tuple[list[str], set[int]]]:
    """The hand-written catalogue of docs/errors.md: (message fragments, exit codes) per row."""
    text = ERRORS_MD.read_text(encoding="utf-8")
    section = text[text.index("## Catalogue"):text.index(BEGIN)]
    out = []
    for cells in re.findall(r"^\|(.+?)\|\s*([0-9][0-9 or]*?)\s*\|", section, re.MULTILINE):
        fragments = re.findall(r"`([^`]+)`", cells[0])
        codes = {int(c) for c in re.findall(r"\d+", cells[1])}
        if fragments and codes != {0}:
            out.append((fragments, codes))
    return out


def test_the_catalogue_exit_codes_match_the_code():
    """Each hand-written catalogue row whose message amlws builds itself gives the exit code of the
    errors that build it (HTTP-derived and CLI-parser messages match nothing and are left out)."""
    errors = raised_errors()
    checked, wrong = 0, []
    for fragments, codes in catalogue():
        built = set()
        for fragment in fragments:
            parts = [p.strip(" '") for p in fragment.split("...") if p.strip(" '")]
            built |= {int(r["code"]) for r in errors if all(_could_contain(str(r["message"]), p) for p in parts)}
        if built:
            checked += 1
            if not codes <= built:
                wrong.append(f"{' / '.join(fragments)}: docs say {sorted(codes)}, the code gives {sorted(built)}")
    assert not wrong, "docs/errors.md's catalogue disagrees with the code:\n" + "\n".join(wrong)
    assert checked >= 40, f"only {checked} catalogue rows matched an error in the code"


def test_http_status_mapping_is_documented():
    from amlws.errors import exit_code_for_status

    text = ERRORS_MD.read_text(encoding="utf-8")
    for status in (400, 401, 403, 404, 409, 412, 429, 500, 503):
        row = re.search(rf"^\|\s*{status}\s*\|\s*(\d+)\s*\|", text, re.MULTILINE)
        assert row, f"docs/errors.md has no row for HTTP {status}"
        assert int(row.group(1)) == int(exit_code_for_status(status)), f"HTTP {status}"


def test_reference_lists_every_error_amlws_raises():
    rows = raised_errors()
    assert len(rows) > 150
    text = ERRORS_MD.read_text(encoding="utf-8")
    missing = [f"{r['module']}:{r['line']} {r['message']}" for r in rows if _cell(str(r["shown"])) not in text]
    assert not missing, ("docs/errors.md does not list these errors; run "
                         "`.venv/bin/python tests/core/test_bad_inputs.py --write`:\n" + "\n".join(missing[:20]))


def test_reference_exit_codes_match_the_classes():
    text = ERRORS_MD.read_text(encoding="utf-8")
    for r in raised_errors():
        line = f"| {_cell(str(r['shown']))} | {r['code']} | {r['class']} |"
        assert line in text, f"{r['module']}:{r['line']}: {line}"


def test_reference_shows_readable_placeholders_and_constant_hints():
    """The reference reads as text: f-string fields become ``N`` / ``<name>``, never source code,
    and a hint given as a module constant is shown as the constant's text."""

    def shown(expr: str) -> str | None:
        return _shown(ast.parse(expr, mode="eval").body, {"HINT": "set X", "FORMATS": ("json", "tsv")})

    assert shown('f"{len(failed)} row(s) failed"') == "N row(s) failed"
    assert shown('f"not a blob: {redact(loc.uri)}"') == "not a blob: <uri>"
    assert shown("f\"letters: {''.join(bad) or '(none given)'}\"") == "letters: <bad>"
    assert shown('f"row {i + 1} of {d.get(\'name\')}: {text.splitlines()[0]} ({type(exc).__name__})"') == \
        "row N of <name>: <text> (<type>)"
    assert shown("HINT") == "set X" and shown('f"use -o {\', -o \'.join(FORMATS)}"') == "use -o json, -o tsv"
    generated = ERRORS_MD.read_text(encoding="utf-8").split(BEGIN, 1)[1]
    source_like = re.findall(r"\{[^{}`]*(?:\(|_HINT\b|\.join)[^{}`]*\}", generated)
    assert not source_like, source_like[:10]
    assert "`{CONNECTION_STRING_HINT}`" not in generated and "AMLWS_STORAGE_CONNECTION_STRING" in generated


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
        print(f"wrote {ERRORS_MD}")
    else:
        sys.stdout.write(reference())


def test_every_usage_and_not_found_error_says_how_to_fix_it():
    """A user who hits a bad-input (exit 2) or not-found (exit 3) error gets a ``(fix: ...)``: e.g.
    ``patch-ilearner FILE`` without ``--uri`` named the options but not what to write."""
    missing = [f"{r['module']}:{r['line']}: {r['message']}" for r in raised_errors() if r["code"] in (2, 3) and not r["hint"]]
    assert missing == []
