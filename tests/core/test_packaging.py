"""Packaging: what a plain ``pip install .`` and ``npm ci`` give a newcomer is enough, and says nothing alarming.

- Every third-party module the product or its emulator imports (``core/``, ``plugins/``) comes from a
  distribution in ``[project].dependencies``: an import that only a test extra installs answers
  ``ModuleNotFoundError`` after ``pip install .`` (issue 12: the emulator's schema check needed
  ``jsonschema``, which only the ``test`` extra installed). Optional imports (PyYAML) are guarded.
- Every npm package in ``package-lock.json`` accepts the Node.js version the README and
  ``package.json``'s ``engines`` state (else ``npm ci`` prints ``EBADENGINE`` warnings).

``.ci/plain-install-check`` runs the real thing: a fresh venv, ``pip install .``, the emulator and an
update through it.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
SOURCES = [REPO / "core", REPO / "plugins"]
#: Imports the product makes only inside ``try: ... except ImportError``: module -> (distribution, extra).
OPTIONAL = {"yaml": ("pyyaml", "yaml")}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(extra: str | None = None) -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return {_norm(re.match(r"[A-Za-z0-9_.\-]+", r).group(0)) for r in reqs}


def _guarded_by_import_error(tree: ast.AST, node: ast.AST) -> bool:
    for parent in ast.walk(tree):
        if isinstance(parent, ast.Try) and any(node is n for stmt in parent.body for n in ast.walk(stmt)):
            for handler in parent.handlers:
                names = [handler.type] if not isinstance(handler.type, ast.Tuple) else handler.type.elts
                if any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names):
                    return True
    return False


def third_party_imports() -> dict[str, list[str]]:
    """Absolute imported module name -> the places (file:line) that import it, stdlib and amlws left out."""
    found: dict[str, list[str]] = {}
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in ("amlws", "tomli"):
                        continue  # tomli: the Python 3.10 marker dependency, a fallback for stdlib tomllib
                    where = f"{path.relative_to(REPO)}:{node.lineno}"
                    if top in OPTIONAL:
                        assert _guarded_by_import_error(tree, node), f"{where}: optional {name} not guarded"
                        continue
                    found.setdefault(name, []).append(where)
    return found


def _file_index() -> dict[Path, str]:
    index: dict[Path, str] = {}
    for dist in md.distributions():
        for f in dist.files or ():
            if f.suffix == ".py":
                index[Path(dist.locate_file(f)).resolve()] = _norm(dist.metadata["Name"])
    return index


def test_every_runtime_import_is_a_declared_dependency():
    index = _file_index()
    runtime = declared()
    missing = {}
    for module, where in third_party_imports().items():
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin, f"{module} (imported at {where[0]}) is not installed"
        dist = index.get(Path(spec.origin).resolve())
        assert dist, f"no installed distribution provides {module}"
        if dist not in runtime:
            missing.setdefault(dist, []).extend(where)
    assert not missing, f"imported at run time but not in [project].dependencies: {missing}"


def test_optional_imports_are_in_their_extra():
    for dist, extra in OPTIONAL.values():
        assert dist in declared(extra)


# --- Node.js: the Azurite pin and the stated requirement -------------------------------------------

_CMP = re.compile(r"(>=|<=|>|<|=|\^|~)?\s*v?([0-9x*]+(?:\.[0-9x*]+)*)")


def _ver(text: str) -> tuple[int, int, int]:
    parts = [0 if p in ("x", "*") else int(p) for p in text.split(".")][:3]
    return tuple(parts + [0] * (3 - len(parts)))  # type: ignore[return-value]


def satisfies(version: tuple[int, int, int], spec: str) -> bool:
    """npm's semver range test, for the forms ``engines.node`` uses (``||``, ``>=``, ``<``, ``^``, ``~``, ``*``)."""
    for alternative in spec.split("||"):
        alternative = alternative.strip()
        if alternative in ("", "*", "x"):
            return True
        ok = True
        for op, raw in _CMP.findall(alternative):
            v = _ver(raw)
            if op == "^":
                ok &= v <= version < (v[0] + 1, 0, 0)
            elif op == "~":
                ok &= v <= version < (v[0], v[1] + 1, 0)
            elif op == ">=":
                ok &= version >= v
            elif op == ">":
                ok &= version > v
            elif op == "<=":
                ok &= version <= v
            elif op == "<":
                ok &= version < v
            else:
                ok &= version[: len(raw.split("."))] == v[: len(raw.split("."))]
        if ok:
            return True
    return False


@pytest.mark.parametrize(("version", "spec", "expected"), [
    ((20, 6, 0), ">=20.0.0", True), ((20, 6, 0), ">=22.0.0", False), ((20, 6, 0), "^18.19.0 || >=20.6.0", True),
    ((20, 5, 0), "^18.19.0 || >=20.6.0", False), ((20, 6, 0), ">=0.6.11 <=0.7.0 || >=0.7.3", True),
    ((20, 6, 0), "<=0.11.8 || >0.11.10", True), ((20, 6, 0), ">= 0.8", True), ((20, 6, 0), "*", True),
    ((20, 6, 0), ">=0.8.x", True), ((20, 6, 0), "^4.7 || >=6.9", True), ((20, 6, 0), "^16", False),
])
def test_semver_ranges(version, spec, expected):
    assert satisfies(version, spec) is expected


def node_minimum() -> tuple[int, int, int]:
    engines = json.loads((REPO / "package.json").read_text(encoding="utf-8"))["engines"]["node"]
    match = re.fullmatch(r">=\s*(\d+\.\d+\.\d+)", engines)
    assert match, f"package.json engines.node is {engines!r}: state the minimum as >=X.Y.Z"
    return _ver(match.group(1))


def test_every_npm_package_accepts_the_stated_node_version():
    minimum = node_minimum()
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    refused = {name: meta["engines"]["node"] for name, meta in lock["packages"].items()
               if isinstance(meta.get("engines"), dict) and "node" in meta["engines"]
               and not satisfies(minimum, meta["engines"]["node"])}
    assert not refused, f"npm ci would warn EBADENGINE on Node {minimum}: {refused}"


def test_the_readme_states_the_node_requirement():
    major, minor, _ = node_minimum()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"Node.js ≥ {major}.{minor}" in readme


def test_the_lock_pins_the_azurite_package_json_names():
    pinned = json.loads((REPO / "package.json").read_text(encoding="utf-8"))["devDependencies"]["azurite"]
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/azurite"]["version"] == pinned


def test_moved_modules_keep_their_old_import_names() -> None:
    """Scripts written against the flat layout (``amlws.history``, ``amlws.bes``...) keep working,
    and the old name is the same module object, so patching one patches the other."""
    import importlib

    import amlws

    assert amlws.MOVED_MODULES
    for old, new in amlws.MOVED_MODULES.items():
        moved = importlib.import_module(new)
        assert importlib.import_module(old) is moved, old
        assert moved.__spec__.name == new  # the alias did not take over the module's own spec
