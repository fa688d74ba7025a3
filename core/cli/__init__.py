"""The command line: a thin layer over the library (:mod:`amlws.api` and the workflows).

``app`` (the Typer application and the error boundary) is in :mod:`amlws.cli.application`; the command
groups live beside it (``retrain``, ``safety``, ``fleet``) and backends add theirs through
``amlws_register_commands``. The names below are the public ones plugins import
(``from amlws.cli import TargetInput, with_target_options``).
"""

from .application import AppContext, app, get_context, hoist_global_options, main, register_commands
from .targets import TargetInput, with_target_options

__all__ = [
    "AppContext",
    "TargetInput",
    "app",
    "get_context",
    "hoist_global_options",
    "main",
    "register_commands",
    "with_target_options",
]
