"""The fleet's progress display on stderr: a live panel on a terminal, one line per finished row otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from ..redact import redact
from .journal import DEPLOYED, FAILED, FINAL, GATE_FAILED, INTERRUPTED, PLANNED, SKIPPED


class FleetProgress:
    """Per-row state and overall ETA on stderr: a live panel on a terminal, one line per finished row otherwise."""

    SHOWN = 12

    def __init__(self, stream: Any = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        try:
            is_tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            is_tty = False
        self.live = is_tty if live is None else live
        self._lock = threading.Lock()
        self.total = 0
        self.done = 0
        self.counts: dict[str, int] = {}
        self.active: dict[str, tuple[str, str, float]] = {}
        self._t0 = time.monotonic()
        self._live: Any = None
        self._finished_at_start = 0
        self._finished: set[str] = set()

    def start(self, total: int, states: dict[str, str]) -> None:
        self.total = total
        for status in states.values():
            if status in FINAL:
                self.counts[status] = self.counts.get(status, 0) + 1
                self.done += 1
        self._finished = {k for k, status in states.items() if status in FINAL}
        self._finished_at_start = self.done
        self._t0 = time.monotonic()
        if self.done:
            self._line(f"fleet: resuming, {self.done} of {total} row(s) already done")
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(get_renderable=self._render, console=Console(file=self.stream), refresh_per_second=4, transient=True)
            self._live.start()

    def eta(self) -> float | None:
        ran = self.done - self._finished_at_start
        if ran <= 0:
            return None
        elapsed = time.monotonic() - self._t0
        return elapsed / ran * (self.total - self.done)

    def header(self) -> str:
        elapsed = time.monotonic() - self._t0
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        eta = self.eta()
        return (f"fleet: {self.done}/{self.total} done" + (f" ({counts})" if counts else "") + f", {len(self.active)} running, "
                f"elapsed {_clock(elapsed)}" + (f", ETA {_clock(eta)}" if eta is not None else ""))

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            table = Table.grid(padding=(0, 2))
            table.add_row(Text(self.header(), style="bold"))
            now = time.monotonic()
            for key, (state, detail, since) in list(self.active.items())[: self.SHOWN]:
                table.add_row(Text(f"  {key:<28} {state:<11} {_clock(now - since)}  {detail}"[:160]))
            if len(self.active) > self.SHOWN:
                table.add_row(Text(f"  ... and {len(self.active) - self.SHOWN} more"))
            return table

    def update(self, key: str, state: str, detail: str = "") -> None:
        with self._lock:
            if state in (DEPLOYED, FAILED, GATE_FAILED, INTERRUPTED, SKIPPED, PLANNED):
                self.active.pop(key, None)
                if key not in self._finished:  # a row is done once: the count never passes the total
                    if state != SKIPPED:
                        self.done += 1
                        self._finished.add(key)
                    self.counts[state] = self.counts.get(state, 0) + 1
                message = f"fleet [{self.done}/{self.total}] {key}: {state}" + (f" ({detail})" if detail else "")
            else:
                prev = self.active.get(key)
                self.active[key] = (state, detail, prev[2] if prev else time.monotonic())
                message = f"fleet {key}: {detail}" if detail.startswith("submitted") or detail.startswith("resuming") else ""
        if message:
            self._line(message)

    def _line(self, message: str) -> None:
        text = redact(message)
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._line(self.header().replace(", 0 running", ""))


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
