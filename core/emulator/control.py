"""The ``/_emulator/`` control plane (moto's ``moto_api``): reset, state, seed, settings and
transitions, ARM's throttling buckets, faults, the request log, and a few service-side actions a real deployment would do
through the Studio UI (redeploying a predictive experiment).

No authentication: the emulator listens on loopback only.
"""

from __future__ import annotations

import json
from typing import Any

from .core import Request, Response
from .exceptions import EmulatorHTTPError


def _bad(message: str) -> EmulatorHTTPError:
    return EmulatorHTTPError(400, {"error": {"code": "BadRequest", "message": message}})


class Control:
    def __init__(self, emulator: Any) -> None:
        self.emu = emulator

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        m, emu = req.method, self.emu
        if path in ("/_emulator", "/_emulator/health"):
            return Response(200, {"status": "ok", "service": "amlws-emulator", "url": emu.base_url})
        if path == "/_emulator/reset" and m == "POST":
            emu.reset()
            emu.rebase(emu.base_url)
            body = req.json(_bad, required=False) or {}
            summary = self._seed(body["seed"]) if isinstance(body, dict) and body.get("seed") else None
            return Response(200, {"reset": True, "seed": summary})
        if path == "/_emulator/state" and m == "GET":
            return Response(200, emu.store.dump())
        if path == "/_emulator/seed" and m == "POST":
            body = req.json(_bad)
            return Response(200, self._seed("demo" if body in ("demo", {"demo": True}) else body))
        if path == "/_emulator/config":
            if m == "GET":
                return Response(200, emu.settings())
            if m in ("POST", "PATCH", "PUT"):
                body = req.json(_bad)
                if not isinstance(body, dict):
                    raise _bad("settings must be a JSON object")
                return Response(200, emu.update_settings(body))
        if path == "/_emulator/transitions":
            if m == "GET":
                return Response(200, emu.settings()["transitions"])
            if m in ("POST", "PUT"):
                body = req.json(_bad)
                return Response(200, emu.update_settings({"transitions": body})["transitions"])
        if path == "/_emulator/throttling":
            # ARM's per-subscription buckets (arm_throttling.py): sizes, and what is left of each
            if m in ("POST", "PUT"):
                body = req.json(_bad)
                emu.update_settings({"arm_throttling": body})
            elif m == "DELETE":
                emu.buckets.refill_all()
                return Response(204)
            if m in ("GET", "POST", "PUT"):
                config = emu.settings()["arm_throttling"]
                return Response(200, {"buckets": config, "remaining": emu.buckets.levels(config)})
        if path == "/_emulator/faults":
            if m == "GET":
                return Response(200, {"faults": emu.faults})
            if m == "POST":
                body = req.json(_bad)
                items = body if isinstance(body, list) else [body]
                return Response(201, {"faults": [emu.add_fault(f) for f in items]})
            if m == "DELETE":
                emu.clear_faults()
                return Response(204)
        if path == "/_emulator/requests":
            if m == "GET":
                since = int(req.query.get("since") or 0)
                entries = emu.requests(since, req.query.get("api"), req.query.get("operation"))
                counts: dict[str, int] = {}
                for e in entries:
                    counts[e["operation"]] = counts.get(e["operation"], 0) + 1
                return Response(200, {"requests": entries, "counts": counts})
            if m == "DELETE":
                emu.clear_log()
                return Response(204)
        if path == "/_emulator/models" and m == "POST":
            body = req.json(_bad)
            model = body.get("model") if isinstance(body, dict) else None
            if not isinstance(model, dict):
                raise _bad("give {\"model\": <ilearner document>}")
            return Response(201, emu.bes.backend.put_internal_model(model))
        parts = path.split("/")
        # /_emulator/classic/workspaces/{ws}/webservices/{svc}/redeploy
        if len(parts) == 8 and parts[2] == "classic" and parts[7] == "redeploy" and m == "POST":
            body = req.json(_bad, required=False) or {}
            return Response(200, emu.classic.backend.redeploy(parts[4], parts[6], body.get("model")))
        if path == "/_emulator/shutdown" and m == "POST":
            if emu.on_shutdown:
                emu.on_shutdown()
            return Response(202, {"shutdown": True})
        raise EmulatorHTTPError(404, {"error": {"code": "NotFound", "message": f"no control operation {m} {req.path}"}})

    def _seed(self, seed: Any) -> dict[str, Any]:
        from .seed import apply_seed, load_seed

        try:
            data = load_seed(seed)
            return apply_seed(self.emu, data)
        except (ValueError, KeyError, TypeError, json.JSONDecodeError, OSError) as exc:
            raise _bad(f"invalid seed: {type(exc).__name__}: {exc}") from None
