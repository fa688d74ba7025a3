"""Library functions behind ``amlws emulator serve|start|stop|status`` (the CLI is a thin layer).

``start`` runs ``python -m amlws.emulator serve`` as a detached background process (no shell),
waits for its ready file and records ``{pid, url, caPath, env}`` in
``<state dir>/emulator/emulator.json``; ``stop`` asks it to shut down through the control plane
and only falls back to terminating that recorded pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import AmlwsError, ConflictError, NotFoundError, UsageError
from ..fsutil import atomic_write_text

INFO_FILE = "emulator.json"


def emulator_dir() -> Path:
    from ..config import state_dir

    return state_dir() / "emulator"


def info_for(server: Any) -> dict[str, Any]:
    """What ``serve`` prints and ``start`` records: URLs, CA path and the client environment."""
    from .seed import DEMO_MLV2_WORKSPACE, DEMO_RESOURCE_GROUP, DEMO_SUBSCRIPTION, DEMO_WORKSPACE, describe

    url = server.url
    return {
        "url": url,
        "pid": os.getpid(),
        "state": server.state,
        "caPath": str(server.ca_path) if server.ca_path else None,
        "urls": {
            "arm": f"{url}/subscriptions/{DEMO_SUBSCRIPTION}/resourceGroups/{DEMO_RESOURCE_GROUP}/providers/Microsoft.MachineLearning/webServices",
            "classic": f"{url}/workspaces/{DEMO_WORKSPACE}/webservices",
            "mlv2": f"{url}/subscriptions/{DEMO_SUBSCRIPTION}/resourceGroups/{DEMO_RESOURCE_GROUP}/providers/"
                    f"Microsoft.MachineLearningServices/workspaces/{DEMO_MLV2_WORKSPACE}",
            "control": f"{url}/_emulator/",
        },
        "seed": describe(server.emulator),
        "env": server.env(),
    }


def env_lines(env: dict[str, str], *, windows: bool | None = None) -> list[str]:
    """``export NAME='value'`` lines a POSIX shell can eval (PowerShell: ``$env:NAME = 'value'``)."""
    windows = os.name == "nt" if windows is None else windows
    if windows:
        return [f"$env:{k} = '" + v.replace("'", "''") + "'" for k, v in env.items()]
    return [f"export {k}='" + v.replace("'", "'\"'\"'") + "'" for k, v in env.items()]


def info_lines(info: dict[str, Any]) -> list[str]:
    """What ``start``/``serve``/``status`` print: comments (``#``, in POSIX shells and PowerShell
    alike) and the variables, so that ``eval "$(amlws emulator start)"`` sets them all."""
    lines = [f"# amlws emulator listening on {info['url']}" + (f" (pid {info['pid']})" if info.get("pid") else "")]
    lines += [f"#   {name:<8} {url}" for name, url in (info.get("urls") or {}).items()]
    env = info.get("env") or {}
    if "AMLWS_STORAGE_CONNECTION_STRING" not in env:
        lines.append("# no storage configured: BES training and scoring need Azurite (docs/emulator.md, Quick start)")
    lines.append('# point amlws at it: eval "$(amlws emulator status)"')
    return lines + env_lines(env)


def serve(*, host: str = "127.0.0.1", port: int = 0, state: str = ":memory:", seed: str | None = "demo",
          storage_connection_string: str | None = None, cert_dir: str | None = None, ready_file: str | None = None,
          on_ready: Callable[[dict[str, Any]], None] | None = None, realistic_timing: bool = False,
          arm_buckets: list[str] | None = None) -> None:
    """Run the emulator in the foreground until Ctrl-C, SIGTERM or ``POST /_emulator/shutdown``.

    :param realistic_timing: real operation durations and the classic model-switch delay (a dress rehearsal).
    :param arm_buckets: ARM throttling buckets as ``KIND=CAPACITY/REFILL`` (``writes=50/20``); the others keep ARM's numbers.
    """
    from .arm_throttling import parse_bucket_option
    from .exceptions import ConfigurationError
    from .server import EmulatorServer

    settings: dict[str, Any] = {}
    for text in arm_buckets or []:
        try:
            kind, bucket = parse_bucket_option(text)
        except ValueError as exc:
            raise UsageError(str(exc), hint="e.g. --arm-bucket writes=50/20 (50 tokens, 20 more per second)") from None
        settings.setdefault("arm_throttling", {})[kind] = bucket
    server = EmulatorServer(host=host, port=port, state=state, seed=None if seed in (None, "none") else seed,
                            cert_dir=cert_dir, storage_connection_string=storage_connection_string,
                            realistic_timing=realistic_timing, settings=settings)
    try:
        server.start()
    except ConfigurationError as exc:
        raise UsageError(str(exc), hint=exc.hint) from None
    except ValueError as exc:
        hint = ("bind to 127.0.0.1 or use --seed FILE with your own credentials" if "non-loopback" in str(exc)
                else "fix the seed file (see docs/emulator.md, Seed files)")
        raise UsageError(str(exc), hint=hint) from None
    except OSError as exc:
        raise AmlwsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="choose another --port (0 = any free port)") from None
    info = info_for(server)
    if ready_file:
        atomic_write_text(ready_file, json.dumps(info, indent=2), mode=0o600)
    if on_ready:
        on_ready(info)

    def _term(signum: int, frame: Any) -> None:
        server.stop()

    try:
        signal.signal(signal.SIGTERM, _term)
    except (ValueError, OSError):  # not the main thread
        pass
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _read_info() -> dict[str, Any] | None:
    path = emulator_dir() / INFO_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _healthy(info: dict[str, Any], timeout: float = 2.0) -> bool:
    import requests

    try:
        r = requests.get(info["url"] + "/_emulator/health", verify=info.get("caPath") or True, timeout=timeout)
        return r.status_code == 200
    except requests.RequestException:
        return False


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # pragma: no cover - Windows: rely on the health check
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_background(*, port: int = 0, state: str | None = None, seed: str = "demo", storage_connection_string: str | None = None,
                     timeout: float = 30.0, realistic_timing: bool = False) -> dict[str, Any]:
    d = emulator_dir()
    d.mkdir(parents=True, exist_ok=True)
    info = _read_info()
    if info and _healthy(info):
        raise ConflictError(f"the emulator is already running at {info['url']} (pid {info.get('pid')})", hint="amlws emulator stop")
    ready = d / "ready.json"
    ready.unlink(missing_ok=True)
    state = state or str(d / "state.sqlite")
    cmd = [sys.executable, "-m", "amlws.emulator", "serve", "--port", str(port), "--state", state,
           "--cert-dir", str(d / "certs"), "--ready-file", str(ready), "--seed", seed]
    if realistic_timing:
        cmd.append("--realistic-timing")
    env = dict(os.environ)
    if storage_connection_string:
        env["AMLWS_STORAGE_CONNECTION_STRING"] = storage_connection_string
    kwargs: dict[str, Any] = {}
    if os.name == "nt":  # pragma: no cover
        kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(subprocess, "DETACHED_PROCESS", 0)
    else:
        kwargs["start_new_session"] = True
    log_path = d / "emulator.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, **kwargs)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            try:
                info = json.loads(ready.read_text(encoding="utf-8"))
                break
            except ValueError:
                pass
        if proc.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            raise AmlwsError(f"the emulator exited at start (code {proc.returncode}): {' / '.join(tail)}", hint=f"see {log_path}")
        time.sleep(0.1)
    else:
        proc.terminate()
        raise AmlwsError(f"the emulator did not start within {timeout:.0f} s", hint=f"see {log_path}")
    info["pid"] = proc.pid
    info["log"] = str(log_path)
    atomic_write_text(d / INFO_FILE, json.dumps(info, indent=2), mode=0o600)
    ready.unlink(missing_ok=True)
    return info


def stop_background(timeout: float = 10.0) -> dict[str, Any]:
    import requests

    info = _read_info()
    if info is None:
        raise NotFoundError("no background emulator is recorded", hint="amlws emulator start")
    pid = int(info.get("pid") or 0)
    try:
        requests.post(info["url"] + "/_emulator/shutdown", verify=info.get("caPath") or True, timeout=3)
    except requests.RequestException:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (_pid_alive(pid) if os.name != "nt" else _healthy(info, 0.5)):
        time.sleep(0.1)
    forced = False
    if pid and os.name != "nt" and _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        forced = True
    (emulator_dir() / INFO_FILE).unlink(missing_ok=True)
    return {"stopped": True, "pid": pid, "url": info.get("url"), "forced": forced}


def background_status() -> dict[str, Any]:
    info = _read_info()
    if info is None:
        return {"running": False}
    running = _healthy(info)
    return {"running": running, "pid": info.get("pid"), "url": info.get("url"), "caPath": info.get("caPath"),
            "log": info.get("log"), "urls": info.get("urls") if running else None, "env": info.get("env") if running else None}
