"""What the installed plugins declare, gathered for the CLI and the config: target options, settings
and which are secrets, command groups.

core names no backend: a backend says what it adds (:class:`~amlws.model.BackendInfo` fields and
``amlws_settings``) and this module merges the declarations of all of them, so that two backends can
share one option (``--subscription``) and a conflict is one :class:`~amlws.errors.PluginError` naming
both. It is not the host (:mod:`amlws.host` dispatches calls): it only reads declarations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .errors import AmlwsError, PluginError
from .model import BackendInfo, Setting, TargetOption

log = logging.getLogger("amlws")


@dataclass(frozen=True)
class DeclaredOption:
    """One CLI option merged from the backends that declare it.

    :param option: the merged declaration (flags of all declarers, their help texts joined).
    :param backends: the names of the backends declaring it, in ``--help`` order.
    :param helps: each declaring backend's own help text.
    """

    option: TargetOption
    backends: tuple[str, ...]
    helps: tuple[tuple[str, str], ...] = ()


def backend_infos(pm: Any) -> list[BackendInfo]:
    """The installed backends' :class:`BackendInfo`, sorted by name (the order of their options in ``--help``)."""
    from .host import _call_impl, _plain_impls

    infos = []
    for impl in _plain_impls(pm.hook.amlws_backend_info):
        info = _call_impl(impl, "amlws_backend_info")
        if isinstance(info, BackendInfo):
            infos.append(info)
    return sorted(infos, key=lambda i: i.name)


def merge_target_options(declared: list[tuple[str, TargetOption]]) -> dict[str, DeclaredOption]:
    """Merge ``(backend, option)`` declarations into one option per name, in declaration order.

    The same option from two backends (same name, long flag and type) is one CLI option; a short flag
    one of them adds is kept. Two short flags, two types, or one flag naming two options is an error
    that names both backends.
    """
    merged: dict[str, DeclaredOption] = {}
    owner: dict[str, tuple[str, str]] = {}  # flag -> (option name, backend)
    for backend, opt in declared:
        if not opt.flags or not opt.flags[0].startswith("--"):
            raise PluginError(f"backend {backend!r}: target option {opt.name!r} needs a long flag first (--name), got {opt.flags!r}",
                              hint=f"fix the plugin, or set AMLWS_DISABLE_PLUGINS to its name (amlws plugins shows it for {backend!r})")
        for flag in opt.flags:
            name, other = owner.get(flag, (opt.name, backend))
            if name != opt.name:
                raise PluginError(f"backends {other!r} and {backend!r} both declare {flag} but for different options "
                                  f"({name!r} and {opt.name!r})", hint=f"one of them must use another flag than {flag}")
        seen = merged.get(opt.name)
        if seen is None:
            merged[opt.name] = DeclaredOption(opt, (backend,), ((backend, opt.help),))
        else:
            first = seen.backends[0]
            if seen.option.flags[0] != opt.flags[0] or seen.option.type is not opt.type:
                raise PluginError(f"backends {first!r} and {backend!r} declare the option {opt.name!r} differently "
                                  f"({seen.option.flags[0]} {seen.option.type.__name__} vs {opt.flags[0]} {opt.type.__name__})",
                                  hint="a shared option needs the same long flag and type in both backends")
            shorts = set(seen.option.flags[1:]) | set(opt.flags[1:])
            if len([f for f in shorts if len(f) == 2]) > 1:
                raise PluginError(f"backends {first!r} and {backend!r} give the option {opt.flags[0]} different short flags "
                                  f"({', '.join(sorted(shorts))})", hint="a shared option needs one short flag, or none")
            flags = (seen.option.flags[0], *dict.fromkeys([*seen.option.flags[1:], *opt.flags[1:]]))
            helps = dict(seen.helps)
            helps.setdefault(backend, opt.help)
            texts = [h for h in dict.fromkeys(helps.values()) if h]
            help_text = (texts[0] if texts else "") if len(texts) <= 1 else " ".join(f"{b}: {h}" for b, h in helps.items() if h)
            commands = () if not seen.option.commands or not opt.commands else tuple(dict.fromkeys(seen.option.commands + opt.commands))
            merged[opt.name] = DeclaredOption(TargetOption(opt.name, flags, help_text, opt.type, commands), (*seen.backends, backend),
                                              tuple(helps.items()))
        for flag in opt.flags:
            owner.setdefault(flag, (opt.name, backend))
    return merged


def target_options(pm: Any) -> dict[str, DeclaredOption]:
    """Every installed backend's target options, merged (:func:`merge_target_options`)."""
    return merge_target_options([(info.name, opt) for info in backend_infos(pm) for opt in info.target_options])


def declared_settings(pm: Any) -> dict[str, Setting]:
    """Every setting plugins declare through ``amlws_settings``, name -> :class:`Setting` (a plain
    description string is a non-secret setting). A plugin whose declaration fails only warns."""
    from .host import _call_impl, _plain_impls

    out: dict[str, Setting] = {}
    for impl in _plain_impls(pm.hook.amlws_settings):
        try:
            declared = _call_impl(impl, "amlws_settings")
        except AmlwsError as exc:  # one plugin's bug must not hide the others' settings
            log.warning("%s", exc.message)
            continue
        if not isinstance(declared, dict):
            continue
        for key, value in declared.items():
            setting = value if isinstance(value, Setting) else Setting(str(value))
            if key in out and out[key].secret:
                setting = Setting(setting.description, secret=True)  # one plugin calling it a secret is enough
            out[str(key)] = setting
    return out


def secret_settings(pm: Any) -> frozenset[str]:
    """The names plugins declared secret."""
    return frozenset(k for k, s in declared_settings(pm).items() if s.secret)


def command_groups(pm: Any) -> dict[str, str]:
    """Backend name -> the name of its command group (``amlws NAME ...``), for backends that declare one."""
    return {i.name: i.command_group for i in backend_infos(pm) if i.command_group}
