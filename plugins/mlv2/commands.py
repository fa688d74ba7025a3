"""``amlws mlv2 ...``: Azure ML v2 endpoints, deployments, models and traffic, each a few lines over :mod:`.backend`."""

from __future__ import annotations

from typing import Any

import typer

app = typer.Typer(help="Azure ML v2 managed online endpoints, deployments and models (Microsoft.MachineLearningServices).",
                  no_args_is_help=True)


def register(root: Any) -> None:
    from .jobs_commands import register as register_jobs

    register_jobs(app)
    root.add_typer(app, name="mlv2")
