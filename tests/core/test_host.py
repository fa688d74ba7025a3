"""The plugin host: entry-point loading, kill switches, validation and the typed facade."""

from __future__ import annotations

import pluggy
import pytest

from amlws import hookimpl
from amlws.config import Settings
from amlws.errors import (
    AmbiguousTargetError,
    ExitCode,
    NoBackendError,
    PluginError,
    UsageError,
    VetoError,
)
from amlws.host import Host, check_plugins, get_plugin_manager, register_plugin
from amlws.model import BackendInfo, Definition, Target, UpdateResult
from amlws.safety.change import update

pytestmark = pytest.mark.usefixtures("amlws_env")

BACKEND_SOURCE = """
from amlws import hookimpl
from amlws.model import BackendInfo, Target

@hookimpl
def amlws_backend_info():
    return BackendInfo(name="{name}", target_help="{name}:x")

@hookimpl
def amlws_claim_target(target):
    if target.startswith("{name}:"):
        return Target(backend="{name}", id=target)
"""


class FakeBackend:
    """A backend that records calls; `scheme` is the target prefix it claims."""

    def __init__(self, name: str, scheme: str | None = None) -> None:
        self.name = name
        self.scheme = scheme or name + ":"
        self.calls: list[str] = []

    @hookimpl
    def amlws_backend_info(self) -> BackendInfo:
        return BackendInfo(name=self.name, description=f"the {self.name} backend", target_help=f"{self.scheme}NAME")

    @hookimpl
    def amlws_claim_target(self, target: str) -> Target | None:
        if target.startswith(self.scheme):
            return Target(backend=self.name, id=target)
        return None

    @hookimpl
    def amlws_get_definition(self, target: Target) -> Definition:
        self.calls.append("get_definition")
        return Definition(self.name, {"properties": {"n": 1}}, target)

    @hookimpl
    def amlws_update(self, target: Target, definition: Definition) -> UpdateResult:
        self.calls.append("update")
        return UpdateResult(target=target, definition=definition, verified=True, requests=2)


def host_for(pm) -> Host:
    return Host(pm, Settings())


# --- entry points and kill switches ------------------------------------------------------


def test_entry_point_plugin_is_loaded_with_its_distribution_and_hooks(fake_dist, monkeypatch):
    fake_dist("acme-backend", {"acme": "acme_backend"}, {"acme_backend": BACKEND_SOURCE.format(name="acme")}, version="2.5.0")
    monkeypatch.setenv("AMLWS_LOAD_PLUGINS", "acme")
    pm = get_plugin_manager()
    assert pm.get_plugin("acme") is not None
    rows = host_for(pm).plugins()
    assert rows == [
        {
            "name": "acme",
            "version": "2.5.0",
            "distribution": "acme-backend",
            "backend": "acme",
            "hooks": ["amlws_backend_info", "amlws_claim_target"],
        }
    ]
    assert host_for(pm).resolve("acme:svc") == Target("acme", "acme:svc")


def test_load_plugins_restricts_and_empty_means_none(fake_dist, monkeypatch):
    fake_dist(
        "two-backends",
        {"alpha": "alpha_mod", "beta": "beta_mod"},
        {"alpha_mod": BACKEND_SOURCE.format(name="alpha"), "beta_mod": BACKEND_SOURCE.format(name="beta")},
    )
    monkeypatch.setenv("AMLWS_LOAD_PLUGINS", "beta")
    assert [p["name"] for p in host_for(get_plugin_manager()).plugins()] == ["beta"]
    monkeypatch.setenv("AMLWS_LOAD_PLUGINS", " alpha , beta ")
    assert [p["name"] for p in host_for(get_plugin_manager()).plugins()] == ["alpha", "beta"]
    monkeypatch.setenv("AMLWS_LOAD_PLUGINS", "")
    assert get_plugin_manager().get_plugins() == set()


def test_disable_plugins_blocks(fake_dist, monkeypatch):
    fake_dist(
        "two-backends",
        {"alpha": "alpha_mod", "beta": "beta_mod"},
        {"alpha_mod": BACKEND_SOURCE.format(name="alpha"), "beta_mod": BACKEND_SOURCE.format(name="beta")},
    )
    monkeypatch.setenv("AMLWS_LOAD_PLUGINS", "alpha,beta")
    monkeypatch.setenv("AMLWS_DISABLE_PLUGINS", "alpha")
    pm = get_plugin_manager()
    assert pm.is_blocked("alpha")
    assert [p["name"] for p in host_for(pm).plugins()] == ["beta"]


def test_plugin_raising_on_import_warns_naming_its_distribution_and_the_tool_carries_on(fake_dist, monkeypatch, amlws_log):
    fake_dist("broken-plugin", {"broken": "broken_mod"}, {"broken_mod": "raise RuntimeError('boom at import')\n"})
    fake_dist("good-plugin", {"good": "good_mod"}, {"good_mod": BACKEND_SOURCE.format(name="good")})
    monkeypatch.setenv("AMLWS_LOAD_PLUGINS", "broken,good")
    pm = get_plugin_manager()
    assert [p["name"] for p in host_for(pm).plugins()] == ["good"]
    warnings = [r for r in amlws_log.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "broken-plugin" in text and "RuntimeError: boom at import" in text
    assert "pip uninstall broken-plugin" in text and "AMLWS_DISABLE_PLUGINS=broken" in text


def test_broken_plugin_through_the_cli_is_one_warning_line_and_the_command_works(fake_dist, monkeypatch, run_cli):
    fake_dist("broken-plugin", {"broken": "broken_mod"}, {"broken_mod": "import no_such_module_xyz\n"})
    monkeypatch.setenv("AMLWS_LOAD_PLUGINS", "broken")
    code, out, err = run_cli(["--version"], None)  # pm=None: load the entry points
    assert code == 0
    assert out == "amlws 0.1.0\n"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("WARNING: plugin 'broken' from broken-plugin failed to load")


def test_same_entry_point_name_in_two_distributions_warns(fake_dist, monkeypatch, amlws_log):
    fake_dist("first-dist", {"dup": "dup_one"}, {"dup_one": BACKEND_SOURCE.format(name="one")})
    fake_dist("second-dist", {"dup": "dup_two"}, {"dup_two": BACKEND_SOURCE.format(name="two")})
    monkeypatch.setenv("AMLWS_LOAD_PLUGINS", "dup")
    pm = get_plugin_manager()
    assert len(pm.get_plugins()) == 1
    assert "first-dist" in amlws_log.text and "second-dist" in amlws_log.text


def test_misspelt_hookimpl_fails_loudly_at_load(fake_dist, monkeypatch):
    source = BACKEND_SOURCE.format(name="typo") + "\n@hookimpl\ndef amlws_get_defintion(target):\n    return None\n"
    fake_dist("typo-plugin", {"typo": "typo_mod"}, {"typo_mod": source})
    monkeypatch.setenv("AMLWS_LOAD_PLUGINS", "typo")
    with pytest.raises(PluginError) as info:
        get_plugin_manager()
    assert "'typo'" in info.value.message and "amlws_get_defintion" in info.value.message
    assert "AMLWS_DISABLE_PLUGINS=typo" in info.value.hint


def test_misspelt_hookimpl_is_caught_by_check_plugins():
    class Typo:
        @hookimpl
        def amlws_after_updates(self, target):
            pass

    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, Typo(), "typo")
    with pytest.raises(PluginError, match="amlws_after_updates"):
        check_plugins(pm)


def test_hookimpl_with_a_wrong_argument_name_is_a_plugin_error():
    class WrongArg:
        @hookimpl
        def amlws_claim_target(self, target_string):
            return None

    pm = get_plugin_manager(load_entrypoints=False)
    with pytest.raises(PluginError) as info:
        register_plugin(pm, WrongArg(), "wrongarg", distribution="wrong-dist")
    assert "'wrongarg' from wrong-dist is invalid" in info.value.message
    assert "target_string" in info.value.message
    assert info.value.exit_code == ExitCode.FAILED


def test_registering_one_name_twice_is_a_plugin_error():
    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, FakeBackend("a"), "a")
    with pytest.raises(PluginError, match="registered twice"):
        register_plugin(pm, FakeBackend("b"), "a")


def test_hookspecs_are_prefixed_and_documented():
    pm = get_plugin_manager(load_entrypoints=False)
    names = [n for n in dir(pm.hook) if not n.startswith("_")]
    assert names and all(n.startswith("amlws_") for n in names)
    for n in names:
        spec = getattr(pm.hook, n).spec
        assert (spec.function.__doc__ and ":param" in spec.function.__doc__) or n in ("amlws_backend_info", "amlws_settings"), n


# --- dispatch: claims ---------------------------------------------------------------------


def test_no_backend_claims_the_target(make_pm):
    pm = make_pm((FakeBackend("acme"), "acme"))
    with pytest.raises(NoBackendError) as info:
        host_for(pm).resolve("zzz:thing")
    err = info.value
    assert err.exit_code == ExitCode.USAGE
    assert err.message == "no backend understands the target 'zzz:thing'"
    assert err.hint == "targets look like acme: acme:NAME"


def test_no_backend_claims_through_the_cli_is_exit_2_and_one_line(make_pm, run_cli):
    pm = make_pm((FakeBackend("acme"), "acme"))
    code, out, err = run_cli(["get", "zzz:thing"], pm)
    assert code == 2 and out == ""
    assert err == "error: no backend understands the target 'zzz:thing' (fix: targets look like acme: acme:NAME)\n"


def test_two_backends_claiming_one_target_is_an_error_naming_both(make_pm):
    pm = make_pm((FakeBackend("one", "x:"), "one"), (FakeBackend("two", "x:"), "two"))
    host = host_for(pm)
    with pytest.raises(AmbiguousTargetError) as info:
        host.resolve("x:svc")
    assert info.value.message == "backends one and two both claim the target 'x:svc'"
    assert info.value.exit_code == ExitCode.USAGE
    assert "--backend" in info.value.hint
    # --backend settles it.
    assert host.resolve("x:svc", backend="two") == Target("two", "x:svc")


def test_unknown_backend_name(make_pm):
    pm = make_pm((FakeBackend("acme"), "acme"))
    with pytest.raises(NoBackendError, match=r"unknown backend 'nope' \(installed: acme\)"):
        host_for(pm).resolve("acme:svc", backend="nope")
    with pytest.raises(NoBackendError, match="backend 'acme' does not understand"):
        host_for(make_pm((FakeBackend("acme"), "acme2"), (FakeBackend("other"), "other"))).resolve("other:svc", backend="acme")


def test_no_target_given(make_pm):
    with pytest.raises(UsageError, match="no target given"):
        host_for(make_pm((FakeBackend("acme"), "acme"))).resolve(None)


def test_target_from_options(make_pm):
    class Opts(FakeBackend):
        @hookimpl
        def amlws_target_from_options(self, options):
            if options.get("name"):
                return f"{self.scheme}{options['name']}"
            return None

    pm = make_pm((Opts("acme"), "acme"))
    assert host_for(pm).resolve(None, options={"name": "svc", "workspace": None}) == Target("acme", "acme:svc")
    pm2 = make_pm((Opts("one"), "one"), (Opts("two"), "two"))
    with pytest.raises(AmbiguousTargetError, match=r"one:svc, two:svc|two:svc, one:svc"):
        host_for(pm2).resolve(None, options={"name": "svc"})
    assert host_for(pm2).resolve(None, backend="two", options={"name": "svc"}) == Target("two", "two:svc")


def test_claim_returning_the_wrong_type_names_the_plugin(make_pm):
    class Bad(FakeBackend):
        @hookimpl
        def amlws_claim_target(self, target):
            return target

    pm = make_pm((Bad("bad"), "badplugin"))
    with pytest.raises(PluginError, match=r"plugin 'badplugin': amlws_claim_target returned str, expected amlws.model.Target"):
        host_for(pm).resolve("bad:x")


def test_claim_for_another_backends_name_is_refused(make_pm):
    class Liar(FakeBackend):
        @hookimpl
        def amlws_claim_target(self, target):
            return Target(backend="arm", id=target)

    pm = make_pm((Liar("liar"), "liar"))
    with pytest.raises(PluginError, match="claimed 'x' for backend 'arm', but its amlws_backend_info names 'liar'"):
        host_for(pm).resolve("x")


def test_backend_info_wrong_type_and_duplicate_names(make_pm):
    class BadInfo:
        @hookimpl
        def amlws_backend_info(self):
            return {"name": "dict"}

    with pytest.raises(PluginError, match=r"must return amlws.model.BackendInfo"):
        host_for(make_pm((BadInfo(), "badinfo"))).backends()
    with pytest.raises(PluginError, match="both call their backend 'same'"):
        host_for(make_pm((FakeBackend("same", "a:"), "p1"), (FakeBackend("same", "b:"), "p2"))).backends()


# --- the typed facade ------------------------------------------------------------------------


def test_facade_calls_only_the_claiming_backend(make_pm):
    one, two = FakeBackend("one"), FakeBackend("two")
    host = host_for(make_pm((one, "one"), (two, "two")))
    definition = host.get_definition(host.resolve("two:svc"))
    assert definition == Definition("two", {"properties": {"n": 1}}, Target("two", "two:svc"))
    assert one.calls == [] and two.calls == ["get_definition"]


def test_facade_checks_return_types_and_names_the_backend(make_pm):
    class Wrong(FakeBackend):
        @hookimpl
        def amlws_get_definition(self, target):
            return {"properties": {}}

    host = host_for(make_pm((Wrong("wrong"), "wrong")))
    with pytest.raises(PluginError) as info:
        host.get_definition(Target("wrong", "wrong:x"))
    assert info.value.message == "backend 'wrong': amlws_get_definition returned dict, expected Definition"


def test_facade_missing_hook_is_a_clear_error(make_pm):
    host = host_for(make_pm((FakeBackend("acme"), "acme")))
    with pytest.raises(PluginError, match="backend 'acme' does not implement amlws_export"):
        host.export(Definition("acme", {}))


def test_facade_wraps_unexpected_plugin_exceptions_naming_the_backend(make_pm):
    class Crashing(FakeBackend):
        @hookimpl
        def amlws_get_definition(self, target):
            return {}["missing"]

    host = host_for(make_pm((Crashing("crash"), "crash")))
    with pytest.raises(PluginError) as info:
        host.get_definition(Target("crash", "crash:x"))
    assert info.value.message == "backend 'crash' failed in amlws_get_definition: KeyError: 'missing'"
    assert isinstance(info.value.__cause__, KeyError)


def test_facade_lets_amlws_errors_through(make_pm):
    from amlws.errors import NotFoundError

    class Missing(FakeBackend):
        @hookimpl
        def amlws_get_definition(self, target):
            raise NotFoundError("no such service")

    with pytest.raises(NotFoundError, match="no such service"):
        host_for(make_pm((Missing("m"), "m"))).get_definition(Target("m", "m:x"))


def test_import_definition_asks_backends_in_name_order(make_pm):
    class Importer(FakeBackend):
        def __init__(self, name, accepts):
            super().__init__(name)
            self.accepts = accepts

        @hookimpl
        def amlws_import(self, document, source):
            self.calls.append(source)
            return Definition(self.name, document) if self.accepts else None

    b, a = Importer("b", True), Importer("a", False)
    host = host_for(make_pm((b, "b"), (a, "a")))
    assert host.import_definition({"x": 1}, source="f.json") == Definition("b", {"x": 1})
    assert a.calls == ["f.json"] and b.calls == ["f.json"]
    with pytest.raises(UsageError, match=r"f.json: no backend recognises this definition format"):
        host_for(make_pm((Importer("c", False), "c"))).import_definition({}, source="f.json")


# --- observers ----------------------------------------------------------------------------------


class Auditor:
    def __init__(self, veto: str | None = None) -> None:
        self.veto = veto
        self.seen: list[tuple[str, object]] = []

    @hookimpl
    def amlws_before_update(self, target, definition):
        self.seen.append(("before", definition.document))
        return self.veto

    @hookimpl
    def amlws_after_update(self, target, result):
        self.seen.append(("after", result.requests))


def test_observer_veto_stops_the_update_before_anything_is_sent(make_pm, run_cli, tmp_path):
    backend, auditor = FakeBackend("acme"), Auditor(veto="change freeze until Monday")
    pm = make_pm((backend, "acme"), (auditor, "freeze"))
    host = host_for(pm)
    target = Target("acme", "acme:svc")
    with pytest.raises(VetoError) as info:
        update(host, target, Definition("acme", {"properties": {"n": 2}}))
    assert info.value.exit_code == ExitCode.CONFLICT == 5
    assert info.value.message == "plugin 'freeze' vetoed the update of acme:svc: change freeze until Monday"
    assert backend.calls == []
    assert auditor.seen == [("before", {"properties": {"n": 2}})]


def test_after_update_is_called_with_the_result(make_pm):
    backend, auditor = FakeBackend("acme"), Auditor()
    host = host_for(make_pm((backend, "acme"), (auditor, "audit")))
    result = update(host, Target("acme", "acme:svc"), Definition("acme", {"properties": {}}))
    # the host reads the live definition once (for the history) before the backend updates
    assert result.verified and backend.calls == ["get_definition", "update"]
    assert auditor.seen == [("before", {"properties": {}}), ("after", 2)]


def test_failing_after_update_observer_is_a_warning_not_a_failure(make_pm, amlws_log):
    class Flaky:
        @hookimpl
        def amlws_after_update(self, result):
            raise OSError("audit log full")

    backend, auditor = FakeBackend("acme"), Auditor()
    host = host_for(make_pm((backend, "acme"), (auditor, "audit"), (Flaky(), "flaky")))
    result = update(host, Target("acme", "acme:svc"), Definition("acme", {}))
    assert result.verified
    assert ("after", 2) in auditor.seen  # the other observer still ran
    assert "plugin 'flaky' failed in amlws_after_update" in amlws_log.text and "audit log full" in amlws_log.text


def test_update_refuses_a_definition_of_another_backend(make_pm):
    host = host_for(make_pm((FakeBackend("acme"), "acme")))
    with pytest.raises(UsageError, match="is a arm definition but the target is a acme target"):
        update(host, Target("acme", "acme:svc"), Definition("arm", {}))


def test_after_retrain_job_reaches_every_plugin(make_pm):
    got = []

    class Notifier:
        def __init__(self, tag):
            self.tag = tag

        @hookimpl
        def amlws_after_retrain_job(self, job):
            got.append((self.tag, job["jobId"]))

    host = host_for(make_pm((Notifier("a"), "a"), (Notifier("b"), "b")))
    host.notify_retrain_job({"jobId": "j1", "status": "Finished"})
    assert sorted(got) == [("a", "j1"), ("b", "j1")]


def test_register_commands_hook_adds_a_typer_group():
    import typer
    from typer.testing import CliRunner

    class WithCommands:
        @hookimpl
        def amlws_register_commands(self, app):
            group = typer.Typer(help="acme things")

            @group.command()
            def hello(name: str) -> None:
                typer.echo(f"hello {name}")

            app.add_typer(group, name="acme")

    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, WithCommands(), "withcommands")
    check_plugins(pm)
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        pass

    pm.hook.amlws_register_commands(app=app)
    result = CliRunner().invoke(app, ["acme", "hello", "bob"])
    assert result.exit_code == 0 and result.output == "hello bob\n"


def test_pluggy_project_name_matches_the_entry_point_group():
    from amlws.host import ENTRY_POINT_GROUP

    pm = get_plugin_manager(load_entrypoints=False)
    assert pm.project_name == ENTRY_POINT_GROUP == "amlws"
    assert isinstance(pm, pluggy.PluginManager)
