"""The plugin host: loads plugins through the ``amlws`` entry-point group and wraps
``pm.hook`` in a typed facade (:class:`Host`).

Built-in backends come through the same entry points as any
third-party backend. ``AMLWS_LOAD_PLUGINS`` (comma list; empty = none) restricts which
entry points load; ``AMLWS_DISABLE_PLUGINS`` blocks some. A plugin that fails to import
gives a warning naming its distribution and the tool carries on; a plugin with a
misspelt hook fails loudly (``check_pending``).

The host is a dispatcher: typed calls over ``pm.hook`` and nothing else. What happens around a
remote change (vetoes, history, the changed-since-export check...) is the change path's,
:mod:`amlws.safety.change`, which uses these calls.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from . import hookspecs
from .errors import (
    AmbiguousTargetError,
    AmlwsError,
    NoBackendError,
    PluginError,
    UsageError,
)
from .model import BackendInfo, Definition, ModelLocation, ServiceEndpoints, Target, UpdateResult

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger("amlws")

T = TypeVar("T")

ENTRY_POINT_GROUP = "amlws"


@dataclass
class PluginRecord:
    name: str
    distribution: str | None = None
    version: str | None = None


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def get_plugin_manager(load_entrypoints: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the amlws hook specs, and the installed plugins when asked.

    :param load_entrypoints: load plugins from the ``amlws`` entry-point group
        (tests pass ``False`` and register exactly the plugin under test).
    """
    pm = pluggy.PluginManager("amlws")
    pm.add_hookspecs(hookspecs)
    pm.amlws_records = {}  # type: ignore[attr-defined]
    if load_entrypoints:
        load_entrypoint_plugins(pm)
        check_plugins(pm)
    return pm


def load_entrypoint_plugins(pm: pluggy.PluginManager) -> None:
    from importlib.metadata import entry_points

    allowed = _env_list("AMLWS_LOAD_PLUGINS")
    blocked = _env_list("AMLWS_DISABLE_PLUGINS") or []
    for name in blocked:
        pm.set_blocked(name)
    seen: dict[str, str | None] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else None
        version = ep.dist.version if ep.dist else None
        if ep.name in seen:
            # One distribution installed twice (editable + wheel) lists the point twice: the
            # first wins quietly. Two distributions using one name is worth a warning.
            if dist != seen[ep.name]:
                log.warning(
                    "plugin name %r is used by both %s and %s; only the first is loaded",
                    ep.name, seen[ep.name] or "an unknown distribution", dist or "an unknown distribution",
                )
            continue
        seen[ep.name] = dist
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - an installed plugin must never break the tool
            log.warning(
                "plugin %r from %s failed to load (%s: %s); skipped. Uninstall it (pip uninstall %s) "
                "or set AMLWS_DISABLE_PLUGINS=%s",
                ep.name, dist or "an unknown distribution", type(exc).__name__, exc, dist or ep.name, ep.name,
            )
            continue
        register_plugin(pm, plugin, ep.name, distribution=dist, version=version)


def register_plugin(
    pm: pluggy.PluginManager, plugin: Any, name: str, *, distribution: str | None = None, version: str | None = None
) -> None:
    """Register one plugin, turning pluggy's validation errors into a clear :class:`PluginError`."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"plugin {name!r}{' from ' + distribution if distribution else ''} is invalid: {exc}",
            hint=f"fix or uninstall it, or set AMLWS_DISABLE_PLUGINS={name}",
        ) from None
    except ValueError as exc:
        raise PluginError(f"plugin {name!r} registered twice: {exc}") from None
    pm.amlws_records[name] = PluginRecord(name, distribution, version)  # type: ignore[attr-defined]


def check_plugins(pm: pluggy.PluginManager) -> None:
    """Fail loudly on hook implementations that match no spec (a misspelt hook is never called)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin_name = pm.get_name(exc.plugin) if getattr(exc, "plugin", None) is not None else "?"
        raise PluginError(
            f"plugin {plugin_name!r} implements an unknown hook: {exc}",
            hint=f"check the hook name against docs/plugins.md, or set AMLWS_DISABLE_PLUGINS={plugin_name}",
        ) from None


class Host:
    """Typed facade over ``pm.hook``: the only way commands and workflows call plugins."""

    def __init__(self, pm: pluggy.PluginManager, settings: Settings) -> None:
        self.pm = pm
        self.settings = settings

    # --- backends --------------------------------------------------------------------

    def backends(self) -> dict[str, tuple[Any, BackendInfo]]:
        """Backend name -> (plugin object, info)."""
        out: dict[str, tuple[Any, BackendInfo]] = {}
        for impl in _plain_impls(self.pm.hook.amlws_backend_info):
            info = _call_impl(impl, "amlws_backend_info")
            if info is None:
                continue
            if not isinstance(info, BackendInfo):
                raise PluginError(f"plugin {impl.plugin_name!r}: amlws_backend_info must return amlws.model.BackendInfo")
            if info.name in out:
                other = self.pm.get_name(out[info.name][0])
                raise PluginError(f"plugins {other!r} and {impl.plugin_name!r} both call their backend {info.name!r}")
            out[info.name] = (impl.plugin, info)
        return out

    def _backend_plugin(self, name: str) -> Any:
        backends = self.backends()
        if name not in backends:
            known = ", ".join(sorted(backends)) or "none installed"
            raise NoBackendError(f"unknown backend {name!r} (installed: {known})", hint="run amlws plugins to see backends")
        return backends[name][0]

    def _call(self, backend: str, hook: str, expected: type[T], **kwargs: Any) -> T:
        plugin = self._backend_plugin(backend)
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        caller = self.pm.subset_hook_caller(hook, remove_plugins=others)
        try:
            result = caller(**kwargs)
        except AmlwsError:
            raise
        except Exception as exc:
            raise PluginError(
                f"backend {backend!r} failed in {hook}: {type(exc).__name__}: {exc}",
                hint="rerun with --debug for the traceback and report it to the plugin's authors",
            ) from exc
        if result is None:
            raise PluginError(
                f"backend {backend!r} does not implement {hook}",
                hint="this backend cannot do that; see amlws plugins for the hooks it implements",
            )
        if not isinstance(result, expected):
            raise PluginError(f"backend {backend!r}: {hook} returned {type(result).__name__}, expected {expected.__name__}")
        return result

    def resolve(self, target: str | None, *, backend: str | None = None, options: dict[str, Any] | None = None) -> Target:
        """Turn what the user typed (or named options) into a :class:`Target`.

        :raises NoBackendError: no backend claims it (exit 2).
        :raises AmbiguousTargetError: two backends claim it (exit 2), naming both.
        """
        if not target and options and any(v is not None for v in options.values()):
            built: list[str] = []
            errors: list[UsageError] = []
            for impl in reversed(_plain_impls(self.pm.hook.amlws_target_from_options)):
                try:  # one backend's complaint about the options must not stop another that understands them
                    t = _call_impl(impl, "amlws_target_from_options", options=options, settings=self.settings)
                except UsageError as exc:
                    errors.append(exc)
                    continue
                if t:
                    built.append(t)
            if not built and errors:
                raise errors[0]
            if backend:
                built = [t for t in built if any(c.backend == backend for c in self._claims(t))]
            if len(set(built)) > 1:
                raise AmbiguousTargetError(
                    "the options name targets of several backends: " + ", ".join(built), hint="pass --backend NAME"
                )
            target = built[0] if built else None
        if not target:
            known = "; ".join(f"{n}: {i.target_help}" for n, (_, i) in sorted(self.backends().items()) if i.target_help)
            raise UsageError("no target given", hint=f"pass a target ({known}) or the options naming one (see --help)" if known
                             else "pass a target or the options naming one (amlws plugins lists the backends)")
        claims = self._claims(target)
        if backend:
            self._backend_plugin(backend)
            claims = [c for c in claims if c.backend == backend]
            if not claims:
                raise NoBackendError(f"backend {backend!r} does not understand the target {target!r}",
                                     hint="drop --backend, or give a target of that backend (amlws plugins lists them)")
        if not claims:
            helps = [f"{n}: {i.target_help}" for n, (_, i) in sorted(self.backends().items()) if i.target_help]
            raise NoBackendError(
                f"no backend understands the target {target!r}",
                hint=("targets look like " + "; ".join(helps)) if helps else "install a backend plugin",
            )
        if len(claims) > 1:
            names = " and ".join(sorted(c.backend for c in claims))
            raise AmbiguousTargetError(f"backends {names} both claim the target {target!r}", hint="pass --backend NAME")
        return claims[0]

    def _claims(self, target: str) -> list[Target]:
        names = {self.pm.get_name(p): n for n, (p, _) in self.backends().items()}
        claims = []
        errors: list[UsageError] = []
        for impl in reversed(_plain_impls(self.pm.hook.amlws_claim_target)):
            try:  # "an ARM id, but not of my type" must not stop the backend whose type it is
                result = _call_impl(impl, "amlws_claim_target", target=target, settings=self.settings)
            except UsageError as exc:
                errors.append(exc)
                continue
            if result is None:
                continue
            if not isinstance(result, Target):
                raise PluginError(
                    f"plugin {impl.plugin_name!r}: amlws_claim_target returned {type(result).__name__}, "
                    "expected amlws.model.Target"
                )
            if names.get(impl.plugin_name) != result.backend:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} claimed {target!r} for backend {result.backend!r}, "
                    f"but its amlws_backend_info names {names.get(impl.plugin_name)!r}",
                    hint="a backend must return Target(backend=<its own BackendInfo.name>, ...)",
                )
            claims.append(result)
        if not claims and errors:
            raise errors[0]
        return claims

    # --- the five steps ----------------------------------------------------------------

    def get_definition(self, target: Target) -> Definition:
        return self._call(target.backend, "amlws_get_definition", Definition, target=target, settings=self.settings)

    def export(self, definition: Definition, *, include_keys: bool = False) -> dict[str, Any]:
        return self._call(
            definition.backend, "amlws_export", dict, definition=definition, settings=self.settings, include_keys=include_keys
        )

    def import_definition(self, document: Any, *, source: str = "<string>", backend: str | None = None) -> Definition:
        if backend:
            plugin = self._backend_plugin(backend)
            others = [p for p in self.pm.get_plugins() if p is not plugin]
            try:
                result = self.pm.subset_hook_caller("amlws_import", remove_plugins=others)(
                    document=document, settings=self.settings, source=source
                )
            except AmlwsError:
                raise
            except Exception as exc:
                raise PluginError(f"backend {backend!r} failed in amlws_import: {type(exc).__name__}: {exc}") from exc
            if result is None:
                # amlws_import returns None for a document in another backend's format
                raise UsageError(
                    f"{source}: not a definition of the {backend} backend",
                    hint="export the definition from the service you are updating (amlws export TARGET -f FILE)",
                )
            if not isinstance(result, Definition):
                raise PluginError(f"backend {backend!r}: amlws_import returned {type(result).__name__}")
            return result
        errors: list[UsageError] = []
        for name, (plugin, _) in sorted(self.backends().items()):
            others = [p for p in self.pm.get_plugins() if p is not plugin]
            try:  # one backend finding fault with a document must not hide another whose format it is
                result = self.pm.subset_hook_caller("amlws_import", remove_plugins=others)(
                    document=document, settings=self.settings, source=source
                )
            except UsageError as exc:
                errors.append(exc)
                continue
            if result is not None:
                if not isinstance(result, Definition):
                    raise PluginError(f"backend {name!r}: amlws_import returned {type(result).__name__}")
                return result
        if errors:
            raise errors[0]
        raise UsageError(
            f"{source}: no backend recognises this definition format",
            hint="pass --backend NAME, or check that the file is an exported definition",
        )

    def patch_ilearner(
        self, definition: Definition, location: ModelLocation, *, selector: str | None = None, allow_http: bool = False
    ) -> Definition:
        """Point ``definition`` at ``location`` (``amlws_patch_ilearner``); a plain-http location is
        refused first (a SAS over http is a leaked credential) unless ``allow_http``."""
        location.check_scheme(allow_http=allow_http)
        return self._call(
            definition.backend,
            "amlws_patch_ilearner",
            Definition,
            definition=definition,
            location=location,
            settings=self.settings,
            selector=selector,
        )

    def patch_model(
        self, definition: Definition, model: str, *, selector: str | None = None, allow_http: bool = False
    ) -> Definition:
        """Point ``definition`` at the model reference ``model``, as its backend reads one.

        A backend with ``amlws_patch_model`` gets the string as given. For one with only
        ``amlws_patch_ilearner`` (a Studio backend) the reference is a ``.ilearner`` location
        (:meth:`ModelLocation.from_reference`: an Azure ML model version is refused, exit 2) and
        :meth:`patch_ilearner` does the rest, so ``patch-model`` writes what ``patch-ilearner --uri`` writes.
        """
        if self.implements(definition.backend, "amlws_patch_model"):
            return self._call(definition.backend, "amlws_patch_model", Definition, definition=definition, model=model,
                              settings=self.settings, selector=selector)
        return self.patch_ilearner(definition, ModelLocation.from_reference(model), selector=selector, allow_http=allow_http)

    def model_references(self, definition: Definition) -> list[dict[str, str]]:
        """The trained models ``definition`` points at (``amlws_model_reference``); ``[]`` when its
        backend does not say. Each is ``{"name", "selector", "uri"}``; ``uri`` keeps any SAS."""
        if not self.implements(definition.backend, "amlws_model_reference"):
            return []
        refs = self._call(definition.backend, "amlws_model_reference", list, definition=definition, settings=self.settings)
        if not all(isinstance(r, dict) and isinstance(r.get("uri"), str) for r in refs):
            raise PluginError(f"backend {definition.backend!r}: amlws_model_reference must return a list of "
                              "{'name', 'selector', 'uri'} dicts")
        return [{"name": str(r.get("name") or r.get("selector") or ""), "selector": str(r.get("selector") or r.get("name") or ""),
                 "uri": r["uri"]} for r in refs]

    def send_update(self, target: Target, definition: Definition, *, live: Definition | None = None) -> UpdateResult:
        """``amlws_update`` on ``target``'s backend: send, wait, verify. No policy here: commands and
        workflows change services through :func:`amlws.safety.change.update`, which asks the
        observers and records history around this call."""
        return self._call(target.backend, "amlws_update", UpdateResult, target=target, definition=definition,
                          settings=self.settings, live=live)

    def implements(self, backend: str, hook: str) -> bool:
        """Whether ``backend``'s plugin implements ``hook`` (optional hooks: plan, read, export...)."""
        plugin = self._backend_plugin(backend)
        return any(h.name == hook for h in self.pm.get_hookcallers(plugin) or [])

    def same_service_difference(self, definition: Definition, live: Definition) -> str:
        """``""`` when ``definition`` describes the live service, else the backend's summary of the
        difference (``amlws_check_same_service``; a backend without it compares nothing)."""
        if not self.implements(definition.backend, "amlws_check_same_service"):
            return ""
        return self._call(definition.backend, "amlws_check_same_service", str, definition=definition, live=live,
                          settings=self.settings)

    def plan_update(self, target: Target, definition: Definition, *, live: Definition | None = None) -> list[dict[str, Any]]:
        """The requests ``update`` would send (``--what-if``); nothing is sent. ``live``: the target's
        definition just read, when the caller has it (the plan then depends on it, never on what ran before)."""
        return self._call(target.backend, "amlws_plan_update", list, target=target, definition=definition,
                          settings=self.settings, live=live)

    def ensure_target(self, target: Target, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create ``target`` when missing (``amlws_ensure_target``); ``{"created": bool, ...}``.

        :raises PluginError: the backend cannot create targets.
        """
        return self._call(target.backend, "amlws_ensure_target", dict, target=target, settings=self.settings, options=dict(options or {}))

    def service_endpoints(
        self, target: Target, *, include_key: bool = True, definition: Definition | None = None
    ) -> ServiceEndpoints:
        """Where ``target``'s BES and RRS live, and (``include_key``) its API key (``amlws_service_endpoints``).

        :raises UsageError: the backend cannot tell (it does not implement the hook): pass the URL instead.
        """
        if not self.implements(target.backend, "amlws_service_endpoints"):
            raise UsageError(
                f"backend {target.backend!r} cannot find the BES/RRS URLs of {target.id}",
                hint="give the BES/RRS URL instead (--url; for retrain: --training-service URL, --smoke-url)",
            )
        result = self._call(target.backend, "amlws_service_endpoints", ServiceEndpoints, target=target,
                            settings=self.settings, include_key=include_key, definition=definition)
        if result.api_key:
            from .redact import register_secret

            register_secret(result.api_key)
        return result

    def invoke(self, target: Target, text: str, *, source: str = "<input>", options: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Score ``text`` on ``target`` the backend's own way (``amlws_invoke``); ``None`` when its backend
        does not implement the hook (``amlws invoke`` then uses the RRS of ``amlws_service_endpoints``)."""
        if not self.implements(target.backend, "amlws_invoke"):
            return None
        return self._call(target.backend, "amlws_invoke", dict, target=target, settings=self.settings, text=text,
                          source=source, options=dict(options or {}))

    def deploy_model(self, target: Target, model: str, *, host: Any = None, options: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Put ``model`` on ``target`` the backend's own way (``amlws_deploy_model``); ``None`` when the
        backend leaves it to the generic read / patch-model / update. ``host``: the host the change path
        uses (default: this one; the fleet passes its limited host)."""
        if not self.implements(target.backend, "amlws_deploy_model"):
            return None
        plugin = self._backend_plugin(target.backend)
        caller = self.pm.subset_hook_caller("amlws_deploy_model", remove_plugins=[p for p in self.pm.get_plugins() if p is not plugin])
        try:
            result = caller(target=target, model=model, settings=self.settings, host=host or self, options=dict(options or {}))
        except AmlwsError:
            raise
        except Exception as exc:
            raise PluginError(f"backend {target.backend!r} failed in amlws_deploy_model: {type(exc).__name__}: {exc}",
                              hint="rerun with --debug for the traceback and report it to the plugin's authors") from exc
        if result is not None and not isinstance(result, dict):
            raise PluginError(f"backend {target.backend!r}: amlws_deploy_model returned {type(result).__name__}, expected dict")
        return result

    def retrain(self, target: Target, request: Any) -> dict[str, Any] | None:
        """Run a job-based retrain of ``target`` its backend's way (``amlws_retrain``); ``None`` when its
        backend does not implement it."""
        if not self.implements(target.backend, "amlws_retrain"):
            return None
        return self._call(target.backend, "amlws_retrain", dict, target=target, request=request, settings=self.settings, host=self)

    def ask_before_update(self, target: Target, definition: Definition, *, action: str = "update") -> tuple[str, str] | None:
        """Ask every ``amlws_before_update`` observer (last registered first) about a change;
        ``(plugin name, reason)`` of the first that gives a reason, else ``None``."""
        for impl in reversed(_plain_impls(self.pm.hook.amlws_before_update)):
            reason = _call_impl(impl, "amlws_before_update", target=target, definition=definition, settings=self.settings,
                                action=action)
            if reason:
                return str(impl.plugin_name), str(reason)
        return None

    def notify_after_update(self, target: Target, result: UpdateResult, *, action: str = "update") -> None:
        """Tell every ``amlws_after_update`` observer; the change is made, so a failure is only a warning."""
        for impl in reversed(_plain_impls(self.pm.hook.amlws_after_update)):
            try:
                _call_impl(impl, "amlws_after_update", target=target, result=result, settings=self.settings, action=action)
            except Exception as exc:  # noqa: BLE001 - the change itself succeeded
                log.warning("plugin %r failed in amlws_after_update (%s: %s); the update itself succeeded",
                            impl.plugin_name, type(exc).__name__, exc)

    def notify_retrain_job(self, job: dict[str, Any]) -> None:
        """Tell every ``amlws_after_retrain_job`` observer; failures are warnings."""
        for impl in reversed(_plain_impls(self.pm.hook.amlws_after_retrain_job)):
            try:
                _call_impl(impl, "amlws_after_retrain_job", job=job, settings=self.settings)
            except Exception as exc:  # noqa: BLE001 - the job already ran
                log.warning("plugin %r failed in amlws_after_retrain_job (%s: %s)", impl.plugin_name, type(exc).__name__, exc)

    def summarize(self, definition: Definition) -> dict[str, Any] | None:
        """The backend's short summary of ``definition`` for table output (``amlws_summarize``), or
        ``None`` when it gives none."""
        if not self.implements(definition.backend, "amlws_summarize"):
            return None
        return self._call(definition.backend, "amlws_summarize", dict, definition=definition, settings=self.settings)

    # --- introspection -------------------------------------------------------------------

    def settings_declared(self) -> dict[str, str]:
        """Every setting ``amlws config set`` accepts: amlws's own and those plugins declare
        (``amlws_settings``), name -> description. A plugin whose declaration fails only warns."""
        from .config import KNOWN_KEYS
        from .declarations import declared_settings

        return {**KNOWN_KEYS, **{k: s.description for k, s in declared_settings(self.pm).items()}}

    def plugins(self) -> list[dict[str, Any]]:
        """What ``amlws plugins`` prints: name, version, distribution, backend name, hooks."""
        records = getattr(self.pm, "amlws_records", {})
        backends = {self.pm.get_name(p): n for n, (p, _) in self.backends().items()}
        out = []
        for plugin in self.pm.get_plugins():
            name = self.pm.get_name(plugin)
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            rec = records.get(name) or PluginRecord(str(name))
            out.append(
                {
                    "name": name,
                    "version": rec.version,
                    "distribution": rec.distribution,
                    "backend": backends.get(name),
                    "hooks": hooks,
                }
            )
        return sorted(out, key=lambda d: d["name"])


def _plain_impls(caller: Any) -> list[Any]:
    """A hook's implementations in registration order, without wrappers (pluggy calls them LIFO)."""
    return [i for i in caller.get_hookimpls() if not (getattr(i, "hookwrapper", False) or getattr(i, "wrapper", False))]


def _call_impl(impl: Any, hook: str, **kwargs: Any) -> Any:
    """Call one implementation with the arguments it asked for (pluggy's opt-in arguments)."""
    try:
        return impl.function(*(kwargs[a] for a in impl.argnames))
    except AmlwsError:
        raise
    except Exception as exc:
        raise PluginError(
            f"plugin {impl.plugin_name!r} failed in {hook}: {type(exc).__name__}: {exc}",
            hint=f"rerun with --debug for the traceback, or set AMLWS_DISABLE_PLUGINS={impl.plugin_name}",
        ) from exc


def load_module(path: str) -> Any:
    return importlib.import_module(path)
