"""The TARGET argument and the target options every backend verb shares, and the decorator that
splices them into a command's signature (:func:`with_target_options`).

core declares only ``--backend``: every other target option is a backend's declaration
(:attr:`amlws.model.BackendInfo.target_options`), merged by :mod:`amlws.declarations` and installed
here by the CLI before each run (:func:`use_target_options`), so ``--help`` shows the installed
backends' options and no others.
"""

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from ..declarations import DeclaredOption
from ..errors import PluginError
from ..model import TargetOption

if TYPE_CHECKING:
    from .application import AppContext

TargetArg = Annotated[str | None, typer.Argument(help="The target: any installed backend's (run amlws plugins; with no TARGET, the options below name one).", show_default=False)]
BackendOpt = Annotated[str | None, typer.Option("--backend", help="Backend to use (see amlws plugins).")]

#: core's own target option; the others come from the installed backends' declarations
#: (:attr:`amlws.model.BackendInfo.target_options`, see :func:`use_target_options`).
TARGET_OPTIONS: dict[str, Any] = {"backend": BackendOpt}

#: The backends' declared options now in use, merged (set by :func:`use_target_options`).
_declared: dict[str, DeclaredOption] = {}
#: Every command built with the declared options, rebuilt when they change.
_commands: "weakref.WeakSet[Any]" = weakref.WeakSet()


def option_type(option: TargetOption) -> Any:
    """The ``Annotated`` parameter type Typer reads for a declared option."""
    return Annotated[option.type | None, typer.Option(*option.flags, help=option.help)]


#: The TARGET argument's help naming the installed backends' targets (set by :func:`use_target_options`).
_target_arg: Any = TargetArg


def use_target_options(declared: dict[str, DeclaredOption], target_helps: dict[str, str] | None = None) -> None:
    """Make the commands that take a target offer these declared options (the CLI calls it with the
    installed backends' declarations, :func:`amlws.declarations.target_options`, before it runs), and
    say in TARGET's help how each backend writes a target (``target_helps``: backend -> its ``target_help``)."""
    global _declared, _target_arg
    _declared = dict(declared)
    helps = "; ".join(f"{b}: {h}" for b, h in (target_helps or {}).items() if h)
    _target_arg = TargetArg if not helps else Annotated[
        str | None, typer.Argument(help=f"The target, as a backend writes it ({helps}).", show_default=False)]
    for command in list(_commands):
        command._amlws_rebuild()


class TargetInput(NamedTuple):
    """A target as typed on the command line, not yet resolved.

    :param text: the TARGET argument (a resource ID, a management URL...), ``None`` when not given.
    :param backend: ``--backend`` (or the backend fixed by the command), ``None`` for any.
    :param options: the naming options the backends declared (``name``...), ``None`` when unset.
    :param command_options: the declared options of this command only (``get --region``): not part of
        the target, they reach the backends as ``settings.invocation.options``.
    """

    text: str | None
    backend: str | None
    options: dict[str, str | None]
    command_options: dict[str, Any] = {}  # noqa: RUF012 - never mutated

    @property
    def given(self) -> bool:
        """Whether the user named a target at all (the argument or any naming option)."""
        return self.text is not None or any(v is not None for v in self.options.values())

    def resolve(self, ctx: "AppContext | None" = None) -> Any:
        """The :class:`~amlws.model.Target` the backends make of it (usage error when none or several claim it)."""
        from .application import get_context

        ctx = ctx or get_context()
        ctx.settings.invocation.options.update({k: v for k, v in self.command_options.items() if v is not None})
        return ctx.resolve(self.text, self.backend, **self.options)


def with_target_options(
    fn: Callable[..., Any] | None = None,
    *,
    target: Any = TargetArg,
    options: dict[str, Any] | None = None,
    backend: str | None = None,
    command: str | None = None,
) -> Any:
    """Give a command the TARGET argument and the target options, gathered in its ``target`` parameter.

    The command declares ``target: TargetInput`` (where the argument goes in ``--help``) and gets a
    :class:`TargetInput`; the options are appended after its other parameters but before keyword-only
    ones (after a bare ``*``). By default they are ``--backend`` and the options the installed backends
    declare (:func:`use_target_options`), those scoped to ``command`` included (default: the function's
    name without ``_cmd``, ``get_cmd`` -> ``get``); ``options=`` (name -> ``Annotated`` type) fixes them.
    ``target=`` is the annotation of the TARGET parameter (an argument, or an option such as
    ``--target``); ``backend=`` fixes the backend for a command without ``--backend``.
    Use as ``@with_target_options`` or ``@with_target_options(options=..., backend="mybackend")``.
    """
    # Why: Typer reads a command's parameters from inspect.signature() each time the CLI runs, so the
    # target options can be declared once (by the backends) and spliced into each command's
    # __signature__ instead of repeated in every def. The command resolves (target.resolve()) when it
    # chooses, so its own checks (e.g. a missing --service-updates) still come first and keep their errors.

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        import functools
        import inspect

        sig = inspect.signature(fn, eval_str=True)
        name = command or fn.__name__.removesuffix("_cmd").replace("_", "-")
        taken = set(options if options is not None else {**TARGET_OPTIONS, **_declared})
        if "target" not in sig.parameters or taken & set(sig.parameters):
            raise TypeError(f"{fn.__qualname__}: needs a 'target' parameter and none named {sorted(taken)}")
        kw = inspect.Parameter.KEYWORD_ONLY  # Typer passes keywords; this kind allows any order
        split = next((i for i, p in enumerate(sig.parameters.values()) if p.kind is p.KEYWORD_ONLY), len(sig.parameters))
        # option name -> (Annotated type, whether it names the target or belongs to this command only)
        extra: dict[str, tuple[Any, bool]] = {}

        def rebuild() -> None:
            if options is not None:
                wanted = {n: (a, True) for n, a in options.items()}
            else:
                wanted = {n: (a, True) for n, a in TARGET_OPTIONS.items()}
                for n, d in _declared.items():
                    if not d.option.commands or name in d.option.commands:
                        if n in sig.parameters or n in wanted:
                            raise PluginError(f"backends {', '.join(d.backends)}: option {n!r} clashes with a parameter of "
                                              f"amlws {name}", hint="the backend must name its option differently")
                        wanted[n] = (option_type(d.option), not d.option.commands)
            extra.clear()
            extra.update(wanted)
            annotation = _target_arg if target is TargetArg else target
            own = [p.replace(kind=kw, annotation=annotation, default=None) if p.name == "target" else p.replace(kind=kw)
                   for p in sig.parameters.values()]
            params = own[:split] + [inspect.Parameter(n, kw, annotation=a, default=None) for n, (a, _) in extra.items()] + own[split:]
            wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
            wrapper.__annotations__ = {p.name: p.annotation for p in params}  # evaluated: no string for Typer to resolve

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            named = {n: kwargs.pop(n, None) for n, (_, naming) in extra.items() if naming}
            scoped = {n: kwargs.pop(n, None) for n, (_, naming) in extra.items() if not naming}
            kwargs["target"] = TargetInput(kwargs.pop("target", None), named.pop("backend", None) or backend, named, scoped)
            return fn(**kwargs)

        wrapper._amlws_rebuild = rebuild  # type: ignore[attr-defined]
        rebuild()
        if options is None or target is TargetArg:
            _commands.add(wrapper)
        return wrapper

    return decorate if fn is None else decorate(fn)
