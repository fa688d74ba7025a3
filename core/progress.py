"""Progress of long waits (BES jobs, long-running ARM operations) on stderr, never stdout.

One reporter for every wait: each update names what is waited for (``BES job 1234``,
``update MyService``), its state as the service reports it and the elapsed seconds. On a
terminal it is a live rich status line per operation; otherwise one plain line per state
change, so logs of a CI run show every transition. Library code reports to :func:`current`,
which the CLI sets for each invocation with :func:`reporting`; without it (the library used on
its own) state changes are logged at INFO on the ``amlws.progress`` logger.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

log = logging.getLogger("amlws.progress")


class Reporter(Protocol):
    """What waits report to."""

    def update(self, subject: str, state: str, elapsed: float) -> None:
        """``subject`` (what is waited for) is in ``state`` after ``elapsed`` seconds."""

    def pause(self) -> None:
        """Stop any live display (before a prompt); the next update starts it again."""


class LogProgress:
    """The default reporter: one INFO log line per state change."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def update(self, subject: str, state: str, elapsed: float) -> None:
        if self._last.get(subject) != state:
            self._last[subject] = state
            log.info("%s: %s (%.0fs)", subject, state, elapsed)

    def pause(self) -> None:
        pass


class ConsoleProgress:
    """State and elapsed time on ``stream`` (stderr): a live rich line per operation on a terminal,
    a plain ``SUBJECT: STATE (Ns)`` line per state change otherwise. Thread-safe (ARM polls arrive
    on azure-core's poller thread)."""

    def __init__(self, *, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(callable(isatty) and isatty())
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def update(self, subject: str, state: str, elapsed: float) -> None:
        with self._lock:
            if self.live:
                self._update_live(subject, state)
                return
            if self._last.get(subject) == state:
                return
            self._last[subject] = state
            self.stream.write(f"{subject}: {state} ({elapsed:.0f}s)\n")
            self.stream.flush()

    def _update_live(self, subject: str, state: str) -> None:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TextColumn("[bold]{task.fields[state]}"),
                TimeElapsedColumn(), console=Console(file=self.stream), transient=False,
            )
            self._progress.start()
            self._tasks = {}
        if subject not in self._tasks:
            self._tasks[subject] = self._progress.add_task(subject, total=None, state=state)
        self._progress.update(self._tasks[subject], state=state)

    def pause(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None

    def __enter__(self) -> ConsoleProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pause()


_current: ContextVar[Reporter | None] = ContextVar("amlws_progress", default=None)
_default = LogProgress()


def current() -> Reporter:
    """The reporter of this invocation (the CLI's :class:`ConsoleProgress`), else :class:`LogProgress`."""
    return _current.get() or _default


def pausing(ask: Callable[[str], bool]) -> Callable[[str], bool]:
    """Wrap a question so that the live display stops before the prompt appears."""

    def wrapped(question: str) -> bool:
        current().pause()
        return ask(question)

    return wrapped


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Make ``reporter`` :func:`current` inside the block; its live display stops at the end."""
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)
        reporter.pause()
