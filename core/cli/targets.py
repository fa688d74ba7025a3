"""The TARGET argument and the target options every backend verb shares, and the decorator that
splices them into a command's signature (:func:`with_target_options`)."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

if TYPE_CHECKING:
    from .application import AppContext

TargetArg = Annotated[str | None, typer.Argument(help="ARM resource ID, classic endpoint management URL, or another backend's target.", show_default=False)]
BackendOpt = Annotated[str | None, typer.Option("--backend", help="Backend to use (see amlws plugins).")]
ResourceGroupOpt = Annotated[str | None, typer.Option("--resource-group", "-g", help="ARM resource group (with --name).")]
NameOpt = Annotated[str | None, typer.Option("--name", "-n", help="ARM web service name (with --resource-group).")]
SubscriptionOpt = Annotated[str | None, typer.Option("--subscription", help="ARM subscription ID (AZURE_SUBSCRIPTION_ID).")]
WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", help="Classic workspace ID.")]
ServiceOpt = Annotated[str | None, typer.Option("--service", help="Classic web service ID.")]
EndpointOpt = Annotated[str | None, typer.Option("--endpoint", help="Classic endpoint name.")]
LocationOpt = Annotated[str | None, typer.Option("--location", help="Classic workspace region, e.g. 'South Central US'.")]


#: The options naming a target, in ``--help`` order: what :func:`with_target_options` adds by default.
TARGET_OPTIONS: dict[str, Any] = {
    "backend": BackendOpt,
    "resource_group": ResourceGroupOpt,
    "name": NameOpt,
    "subscription": SubscriptionOpt,
    "workspace": WorkspaceOpt,
    "service": ServiceOpt,
    "endpoint": EndpointOpt,
    "location": LocationOpt,
}


class TargetInput(NamedTuple):
    """A target as typed on the command line, not yet resolved.

    :param text: the TARGET argument (ARM resource ID, management URL...), ``None`` when not given.
    :param backend: ``--backend`` (or the backend fixed by the command), ``None`` for any.
    :param options: the naming options (``resource_group``, ``name``, ``workspace``...), ``None`` when unset.
    """

    text: str | None
    backend: str | None
    options: dict[str, str | None]

    @property
    def given(self) -> bool:
        """Whether the user named a target at all (the argument or any naming option)."""
        return self.text is not None or any(v is not None for v in self.options.values())

    def resolve(self, ctx: "AppContext | None" = None) -> Any:
        """The :class:`~amlws.model.Target` the backends make of it (usage error when none or several claim it)."""
        from .application import get_context

        return (ctx or get_context()).resolve(self.text, self.backend, **self.options)


def with_target_options(
    fn: Callable[..., Any] | None = None,
    *,
    target: Any = TargetArg,
    options: dict[str, Any] | None = None,
    backend: str | None = None,
) -> Any:
    """Give a command the TARGET argument and the target options, gathered in its ``target`` parameter.

    The command declares ``target: TargetInput`` (where the argument goes in ``--help``) and gets a
    :class:`TargetInput`; the options (default :data:`TARGET_OPTIONS`, name -> ``Annotated`` type) are
    appended after its other parameters but before keyword-only ones (after a bare ``*``).
    ``target=`` is the annotation of the TARGET parameter (an argument, or an option such as
    ``--target``); ``backend=`` fixes the backend for a command without ``--backend``.
    Use as ``@with_target_options`` or ``@with_target_options(options=..., backend="arm")``.
    """
    # Why: Typer reads a command's parameters from inspect.signature(), so the eight target
    # options can be declared once and spliced into each command's __signature__ instead of
    # repeated in every def. The command resolves (target.resolve()) when it chooses, so its
    # own checks (e.g. a missing --service-updates) still come first and keep their errors.
    extra = TARGET_OPTIONS if options is None else options

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        import functools
        import inspect

        sig = inspect.signature(fn, eval_str=True)
        if "target" not in sig.parameters or set(extra) & set(sig.parameters):
            raise TypeError(f"{fn.__qualname__}: needs a 'target' parameter and none named {sorted(extra)}")
        kw = inspect.Parameter.KEYWORD_ONLY  # Typer passes keywords; this kind allows any order
        own = [p.replace(kind=kw, annotation=target, default=None) if p.name == "target" else p.replace(kind=kw)
               for p in sig.parameters.values()]
        split = next((i for i, p in enumerate(sig.parameters.values()) if p.kind is p.KEYWORD_ONLY), len(own))
        params = own[:split] + [inspect.Parameter(n, kw, annotation=a, default=None) for n, a in extra.items()] + own[split:]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            named = {n: kwargs.pop(n, None) for n in extra}
            kwargs["target"] = TargetInput(kwargs.pop("target", None), named.pop("backend", None) or backend, named)
            return fn(**kwargs)

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}  # evaluated: no string for Typer to resolve
        return command

    return decorate if fn is None else decorate(fn)
