"""The one change path (:mod:`amlws.safety.change`) and the layering it brings (issue 14): observers
veto or are told of any change, history is written around it, backends never import history,
and core's api, host and safety modules import one another without a circle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from amlws import hookimpl
from amlws.config import Settings
from amlws.errors import VetoError
from amlws.host import Host
from amlws.model import BackendInfo, Definition, Target
from amlws.safety import change
from amlws.safety.change import Change, apply, sent
from amlws.safety.history import History

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "core"
TARGET = Target("toy", "toy:svc")


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AMLWS_STATE_DIR", str(tmp_path / "state"))  # this test's history only


class Toy:
    @hookimpl
    def amlws_backend_info(self):
        return BackendInfo(name="toy")


class Observer:
    def __init__(self, veto: str | None = None) -> None:
        self.veto = veto
        self.before: list[tuple[str, dict]] = []
        self.after: list[tuple[str, bool, dict]] = []

    @hookimpl
    def amlws_before_update(self, target, definition, action):
        self.before.append((action, definition.document))
        return self.veto

    @hookimpl
    def amlws_after_update(self, result, action):
        self.after.append((action, result.changed, result.details))


def host_with(make_pm, *observers: Observer) -> Host:
    return Host(make_pm((Toy(), "toy"), *((o, f"observer{i}") for i, o in enumerate(observers))), Settings(env={}))


def test_a_veto_stops_a_delete_before_history_or_send(make_pm):
    observer = Observer(veto="change freeze")
    sent_calls: list[str] = []
    live = {"name": "svc", "keys": {"primary": "k"}}

    def delete():
        sent_calls.append("DELETE")
        return sent(removal)

    removal = Change(TARGET, "remove", None, live, [{"method": "DELETE", "url": "toy://svc"}])
    with pytest.raises(VetoError) as info:
        apply(host_with(make_pm, observer), removal, delete)
    assert info.value.exit_code == 5
    assert info.value.message == "plugin 'observer0' vetoed the removal of toy:svc: change freeze"
    assert sent_calls == [] and History().list(TARGET.id) == []
    # a delete sends no definition: observers are shown the live one about to go
    assert observer.before == [("remove", live)]


def test_a_change_is_recorded_then_told_with_its_action_and_outcome(make_pm):
    observer = Observer()
    change_ = Change(TARGET, "endpoint-refresh", None, {"name": "svc"},
                     [{"method": "POST", "url": "toy://svc/refresh?sig=SECRETSIG123", "body": {"OverwriteResources": "False"}}],
                     note="why")

    def refresh():
        [entry] = History().list(TARGET.id, definitions=True)  # saved before the send
        assert entry["definition"] == {"name": "svc"} and entry["status"] == "unknown (no outcome recorded)"
        return sent(change_, outcome={"refreshed": True})

    result = apply(host_with(make_pm, observer), change_, refresh)
    assert result.changed and result.definition.document == {"name": "svc"}
    [row] = History().list(TARGET.id)
    assert (row["action"], row["status"], row["note"]) == ("endpoint-refresh", "applied", "why")
    entry = History().get(TARGET.id)
    assert entry["request"][0]["url"] == "toy://svc/refresh?sig=***"  # the planned requests, redacted
    assert History().status(TARGET.id, row["revision"])["refreshed"] is True
    assert observer.after == [("endpoint-refresh", True, {"refreshed": True})]


def test_a_change_that_changed_nothing_keeps_no_revision(make_pm):
    observer = Observer()
    change_ = Change(TARGET, "endpoint-refresh", None, {"name": "svc"})
    apply(host_with(make_pm, observer), change_, lambda: sent(change_, changed=False))
    assert History().list(TARGET.id) == []
    assert observer.after == [("endpoint-refresh", False, {})]


def test_a_failed_send_is_recorded_and_observers_are_not_told(make_pm):
    from amlws.errors import OperationFailed

    observer = Observer()
    change_ = Change(TARGET, "add-region", None, {"name": "svc"})

    def fail():
        raise OperationFailed("region not supported")

    with pytest.raises(OperationFailed):
        apply(host_with(make_pm, observer), change_, fail)
    [row] = History().list(TARGET.id)
    assert row["status"] == "failed" and observer.after == []


def test_ctrl_c_during_a_change_names_the_target_for_the_cli(make_pm):
    change_ = Change(TARGET, "new", Definition("toy", {"name": "svc"}, TARGET), None)
    change.forget_interrupted()

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        apply(host_with(make_pm), change_, interrupted)
    assert change.interrupted_target() == TARGET
    assert History().list(TARGET.id)[0]["status"] == "interrupted"
    change.forget_interrupted()
    assert change.interrupted_target() is None


# --- layering -------------------------------------------------------------------------------------


def test_backends_never_import_history():
    """Backends record history through the change path only (issue 14)."""
    offenders = []
    for path in sorted((REPO / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(a.name for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(re.search(r"(^|\.)history($|\.)", n) for n in names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def _module_name(path: Path) -> str:
    parts = ["amlws", *path.relative_to(CORE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every core module ``path`` imports, at module level or inside functions (an import inside a
    function still makes a circle: it only hides it until the call); ``TYPE_CHECKING`` blocks aside."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.dump(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - (child.level - 1)]
                    module = ".".join([*base, *((child.module or "").split(".") if child.module else [])])
                else:
                    module = child.module or ""
                found.add(module)
                found.update(f"{module}.{a.name}" for a in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in known and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_api_host_and_safety_import_one_another_without_a_circle():
    """``api -> host -> safety.rollback -> api`` was held apart by imports inside functions (issue 14)."""
    files = {_module_name(p): p for p in CORE.rglob("*.py") if "emulator" not in p.relative_to(CORE).parts}
    graph = {name: _imports(path, name, set(files)) for name, path in files.items()}
    policy = {"amlws.api", "amlws.host"} | {n for n in files if n.startswith("amlws.safety")}
    # a circle through two of them (directly or through another module); a module's circle with
    # one of them alone (e.g. host and a helper it calls back) is that module's business
    assert [c for c in _cycles(graph) if len(policy & set(c)) > 1] == []
    # and the dispatcher knows no policy
    assert not any(m.startswith("amlws.safety") or m == "amlws.api" for m in graph["amlws.host"])


def test_the_change_path_example_in_the_plugin_guide_runs(tmp_path, monkeypatch):
    text = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    code = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
    reference = text.index("## Hook reference")
    setup = code.search(text, reference).group(1)
    section = text[text.index("## The change path"):reference]
    [example] = code.findall(section)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_change_path"}
    exec(compile(setup, "docs/plugins.md:set-up", "exec"), namespace)
    exec(compile(example, "docs/plugins.md:the-change-path", "exec"), namespace)
    assert [r["action"] for r in History().list("mem:svc")] == ["remove"]
