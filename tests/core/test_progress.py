"""The one progress reporter of long waits: stderr only, a live line on a terminal, a line per state otherwise."""

from __future__ import annotations

import io
import logging

from amlws.progress import ConsoleProgress, LogProgress, current, pausing, reporting


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_stream_gets_one_line_per_state_change_per_subject():
    out = io.StringIO()
    with reporting(ConsoleProgress(stream=out)) as bar:
        assert current() is bar
        bar.update("update svc", "InProgress", 0.2)
        bar.update("update svc", "InProgress", 3.0)
        bar.update("BES job j1", "Running", 4.0)
        bar.update("update svc", "Succeeded", 12.4)
    assert out.getvalue() == "update svc: InProgress (0s)\nBES job j1: Running (4s)\nupdate svc: Succeeded (12s)\n"
    assert isinstance(current(), LogProgress)  # reset after the block


def test_a_terminal_gets_a_live_line_that_stops_before_a_prompt():
    tty = Tty()
    with reporting(ConsoleProgress(stream=tty)) as bar:
        bar.update("BES job j1", "Running", 1.0)
        assert bar._progress is not None
        asked = pausing(lambda q: q == "cancel?")("cancel?")
        assert asked is True and bar._progress is None
    assert "BES job j1" in tty.getvalue() and "Running" in tty.getvalue()


def test_without_the_cli_state_changes_are_logged(caplog):
    with caplog.at_level(logging.INFO, logger="amlws.progress"):
        reporter = LogProgress()
        reporter.update("update svc", "InProgress", 0.0)
        reporter.update("update svc", "InProgress", 1.0)
        reporter.update("update svc", "Succeeded", 2.0)
    assert [r.getMessage() for r in caplog.records] == ["update svc: InProgress (0s)", "update svc: Succeeded (2s)"]
