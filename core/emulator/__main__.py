"""``python -m amlws.emulator serve [--port 0] [--state FILE] ...``: what ``amlws emulator start`` runs."""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amlws.emulator", description="The amlws local emulator.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve in the foreground")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--state", default=":memory:")
    serve.add_argument("--seed", default="demo", help="demo, none, or a seed JSON file")
    serve.add_argument("--storage-connection-string", default=os.environ.get("AMLWS_STORAGE_CONNECTION_STRING"))
    serve.add_argument("--cert-dir", default=None)
    serve.add_argument("--ready-file", default=None)
    serve.add_argument("--json", action="store_true")
    serve.add_argument("--realistic-timing", action="store_true",
                       help="real operation durations and the classic model-switch delay (a dress rehearsal)")
    serve.add_argument("--arm-bucket", action="append", default=[], metavar="KIND=CAPACITY/REFILL",
                       help="an ARM throttling bucket of every subscription, e.g. writes=50/20 (repeatable)")
    args = parser.parse_args(argv)
    from ..errors import AmlwsError
    from .runner import env_lines
    from .runner import serve as run

    def ready(info: dict) -> None:
        if args.json:
            sys.stdout.write(json.dumps(info, indent=2) + "\n")
        else:
            sys.stdout.write(f"amlws emulator listening on {info['url']}\n" + "\n".join(env_lines(info["env"])) + "\n")
        sys.stdout.flush()

    try:
        run(host=args.host, port=args.port, state=args.state, seed=args.seed,
            storage_connection_string=args.storage_connection_string, cert_dir=args.cert_dir,
            ready_file=args.ready_file, on_ready=ready, realistic_timing=args.realistic_timing, arm_buckets=args.arm_bucket)
    except AmlwsError as exc:
        sys.stderr.write(f"error: {exc.message}" + (f" (fix: {exc.hint})" if exc.hint else "") + "\n")
        return int(exc.exit_code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
