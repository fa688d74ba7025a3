"""``amlws emulator serve|start|stop|status``: thin Typer commands over :mod:`amlws.emulator.runner`."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

HELP = (
    "Run the local Azure ML emulator (ARM web services, classic, BES/RRS, Azure ML v2 endpoints and jobs; HTTPS on 127.0.0.1).\n\n"
    "Examples:\n    Start it in the background and point amlws at it, then stop it\n"
    "        eval \"$(amlws emulator start)\"\n        amlws emulator status\n        amlws emulator stop"
)


def _print_info(info: dict[str, Any]) -> None:
    from .runner import info_lines

    sys.stdout.write("\n".join(info_lines(info)) + "\n")
    sys.stdout.flush()


def register(app: Any) -> None:
    emulator_app = typer.Typer(help=HELP, no_args_is_help=True)
    app.add_typer(emulator_app, name="emulator")

    @emulator_app.command("serve")
    def serve_cmd(
        port: Annotated[int, typer.Option("--port", help="Port (0 = any free port, printed).")] = 0,
        host: Annotated[str, typer.Option("--host", help="Bind address (loopback only with demo credentials).")] = "127.0.0.1",
        state: Annotated[str, typer.Option("--state", help="SQLite state file (default: in memory).")] = ":memory:",
        seed: Annotated[str, typer.Option("--seed", help="demo (default), none, or a seed JSON file.")] = "demo",
        storage_connection_string: Annotated[str | None, typer.Option(
            "--storage-connection-string", envvar="AMLWS_STORAGE_CONNECTION_STRING", show_envvar=True,
            help="Default storage for BES outputs (Azurite's full connection string).")] = None,
        cert_dir: Annotated[str | None, typer.Option("--cert-dir", help="Where ca.pem/server.pem are kept.")] = None,
        realistic_timing: Annotated[bool, typer.Option(
            "--realistic-timing", help="Real durations (ARM operations ~13 s, classic model switch 30 s) for a dress rehearsal.")] = False,
        arm_bucket: Annotated[list[str] | None, typer.Option(
            "--arm-bucket", metavar="KIND=CAPACITY/REFILL",
            help="An ARM throttling bucket of every subscription (reads, writes, deletes), e.g. writes=50/20. Repeatable.")] = None,
    ) -> None:
        """Serve in the foreground until Ctrl-C; prints the URLs and the env vars a client needs.

        Examples:
            Serve on a fixed port with state kept in a file
                amlws emulator serve --port 8443 --state emulator.sqlite
        """
        from ..cli import get_context
        from .runner import serve

        ctx = get_context()

        def ready(info: dict[str, Any]) -> None:
            ctx.emit(info, table=_print_info)
            sys.stdout.flush()
            sys.stderr.write("Press Ctrl-C to stop.\n")

        serve(host=host, port=port, state=state, seed=seed, storage_connection_string=storage_connection_string,
              cert_dir=cert_dir, on_ready=ready, realistic_timing=realistic_timing, arm_buckets=arm_bucket)

    @emulator_app.command("start")
    def start_cmd(
        port: Annotated[int, typer.Option("--port", help="Port (0 = any free port).")] = 0,
        state: Annotated[str | None, typer.Option("--state", help="SQLite state file (default: in the amlws state dir).")] = None,
        seed: Annotated[str, typer.Option("--seed", help="demo (default), none, or a seed JSON file.")] = "demo",
        storage_connection_string: Annotated[str | None, typer.Option(
            "--storage-connection-string", envvar="AMLWS_STORAGE_CONNECTION_STRING", show_envvar=True,
            help="Default storage for BES outputs.")] = None,
        realistic_timing: Annotated[bool, typer.Option(
            "--realistic-timing", help="Real durations (ARM operations ~13 s, classic model switch 30 s) for a dress rehearsal.")] = False,
    ) -> None:
        """Start the emulator in the background (pid and URLs recorded in the amlws state dir).

        Examples:
            Start it and point amlws at it (it prints the AMLWS_* exports); the same in another shell
                eval "$(amlws emulator start)"
                eval "$(amlws emulator status)"
        """
        from ..cli import get_context
        from .runner import start_background

        ctx = get_context()
        info = start_background(port=port, state=os.path.abspath(state) if state else None, seed=seed,
                                storage_connection_string=storage_connection_string, realistic_timing=realistic_timing)
        ctx.emit(info, table=_print_info)

    @emulator_app.command("stop")
    def stop_cmd() -> None:
        """Stop the background emulator.

        Examples:
            Stop it
                amlws emulator stop
        """
        from ..cli import get_context
        from .runner import stop_background

        ctx = get_context()
        ctx.emit(stop_background(), table=lambda d: sys.stdout.write(f"stopped the emulator at {d['url']} (pid {d['pid']})\n"))

    @emulator_app.command("status")
    def status_cmd() -> None:
        """Is the background emulator running? Prints its URL and client env vars.

        Examples:
            Its URL and the environment variables a client needs
                amlws emulator status
                amlws emulator status -o json
        """
        from ..cli import get_context
        from .runner import background_status

        ctx = get_context()
        data = background_status()

        def table(d: dict[str, Any]) -> None:
            if not d["running"]:
                sys.stdout.write("# the emulator is not running (start it with: amlws emulator start)\n")
                return
            _print_info(d)

        ctx.emit(data, table=table)
        if not data["running"]:
            raise typer.Exit(3)
