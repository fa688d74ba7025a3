"""How ``amlws ... --help`` reads: examples, the global options, usage lines with names.

Every command and group gets these classes through :func:`style_commands` (plugin commands
too), so a command only writes its docstring: a summary, details, then an ``Examples:``
section of indented lines (a line of prose, then the command lines under it), as ``az``
shows them. The help of each command then ends with the global options that work
anywhere on the line (``-o``, ``--query``, ``--what-if``, ``--yes`` ...), as ``az`` lists
its global arguments; usage lines name arguments (``TARGET``, ``DEFINITION_FILE``) and
options show a value name (``--output-file OUTPUT_FILE``) instead of a type (``<str>``);
command summaries in a group's list are whole sentences, never cut with "...".

Only Typer's public classes and attributes are used (``TyperCommand``, ``TyperGroup``,
``CommandInfo.cls``, click's ``Command`` formatting methods), never ``click`` itself.
"""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

#: Root options that are not global options of a command (their own flags of the root).
_NOT_GLOBAL = {"version", "install_completion", "show_completion", "help"}


def split_examples(help_text: str | None) -> tuple[str | None, list[str]]:
    """``help_text`` without its ``Examples:`` section, and that section's lines (dedented)."""
    if not help_text:
        return help_text, []
    m = re.search(r"^\s*Examples:\s*$", help_text, flags=re.MULTILINE)
    if m is None:
        return help_text, []
    body = help_text[m.end():].strip("\n").splitlines()
    indent = min((len(ln) - len(ln.lstrip()) for ln in body if ln.strip()), default=0)
    return help_text[: m.start()].rstrip(), [ln[indent:].rstrip() for ln in body]


def summary(help_text: str | None) -> str:
    """The first sentence of the first paragraph, whole (what a group's command list shows)."""
    if not help_text:
        return ""
    first = " ".join(help_text.strip().split("\n\n", 1)[0].split())
    m = re.search(r"(?<=[.!?])\s", first)
    return first[: m.start()] if m else first


def _value_name(param: Any) -> str:
    longs = [o for o in param.opts if o.startswith("--")]
    name = (longs[0][2:] if longs else param.name or "value").replace("-", "_")
    return name.upper()


def _name_values(params: list[Any]) -> None:
    """Give every option taking a value, and every argument, a value name instead of ``<str>``."""
    for param in params:
        if param.metavar is not None:
            continue
        if param.param_type_name == "argument":
            param.metavar = (param.name or "value").upper()
        elif not getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = _value_name(param)


def _argument_usage(param: Any) -> str:
    name = param.metavar or (param.name or "value").upper()
    if param.nargs != 1:
        name += "..."
    return name if param.required else f"[{name}]"


class _Help:
    """What commands and groups share: examples, global options, whole summaries, named usage."""

    examples: list[str]
    help: str | None  # click's Command sets it

    def _setup_help(self) -> None:
        self.help, self.examples = split_examples(self.help)
        _name_values(self.params)  # type: ignore[attr-defined]

    def get_short_help_str(self, limit: int = 45) -> str:
        return summary(self.short_help or self.help)  # type: ignore[attr-defined]

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        rv = [self.options_metavar] if self.options_metavar else []  # type: ignore[attr-defined]
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            rv.extend([_argument_usage(param)] if param.param_type_name == "argument" else param.get_usage_pieces(ctx))
        return rv

    def format_options(self, ctx: Any, formatter: Any) -> None:
        args, opts = [], []
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":  # "TARGET", not "TARGET <str>"
                args.append((param.metavar or record[0], record[1]))
            else:
                opts.append(record)
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        if hasattr(self, "format_commands"):
            self.format_commands(ctx, formatter)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        if self.examples:
            with formatter.section("Examples"):
                for line in self.examples:
                    formatter.write(f"{'':>{formatter.current_indent}}{line}\n" if line else "\n")
        root = ctx.find_root()
        if root is not ctx:
            records = [p.get_help_record(root) for p in root.command.get_params(root) if p.name not in _NOT_GLOBAL]
            if records:
                with formatter.section("Global options"):
                    formatter.write_dl([r for r in records if r])
        super().format_epilog(ctx, formatter)  # type: ignore[misc]


class AmlwsCommand(_Help, TyperCommand):
    """A command whose ``--help`` shows examples and the global options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_help()


class AmlwsGroup(_Help, TyperGroup):
    """A command group whose ``--help`` shows examples, whole command summaries and the global options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_help()

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*super().collect_usage_pieces(ctx), self.subcommand_metavar]


def _is_default(value: Any) -> bool:
    """Whether a command or group kept Typer's own class (Typer fills in ``TyperCommand`` for
    ``cls=None`` and wraps an unset group class in a placeholder whose ``.value`` is ``None``)."""
    return value in (None, TyperCommand, TyperGroup) or (
        type(value).__name__ == "DefaultPlaceholder" and getattr(value, "value", None) in (None, TyperGroup)
    )


def style_commands(app: typer.Typer) -> None:
    """Make every command and group of ``app`` (recursively, plugin commands included) an
    :class:`AmlwsCommand` / :class:`AmlwsGroup`, unless it chose a class of its own."""
    for info in app.registered_commands:
        if _is_default(info.cls):
            info.cls = AmlwsCommand
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        if _is_default(group.cls) and _is_default(sub.info.cls):
            sub.info.cls = AmlwsGroup
        style_commands(sub)
