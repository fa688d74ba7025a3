"""2. Requests per operation, counted in the emulator's request log (no extra request allowed).

- ARM update (``amlws update ID --service-updates FILE``): GET (the live definition, kept in the
  history and used for the storage check) + PATCH + status polls + the final GET.
- classic patch (``amlws update ENDPOINT_URL --service-updates FILE``): GET endpoint + PATCH + verify GET.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from common import Result, azurite, client_env, demo_targets, emulator, emulator_model, run_amlws, say, upload_blob

ARM_PATTERN = r"WebServices_Get WebServices_Patch (OperationsStatus_Get )+WebServices_Get"
CLASSIC_PATTERN = r"Endpoints_Get Endpoints_Patch Endpoints_Get"


def measure(emu, env, target: str, work: Path, model_url: str, tag: str) -> list[str]:
    exported = work / f"{tag}.json"
    patched = work / f"{tag}-patched.json"
    run_amlws(["export", target, "-f", str(exported), "--force"], env)
    run_amlws(["patch-ilearner", str(exported), "--uri", model_url, "-f", str(patched)], env)
    since = emu.last_seq()
    run_amlws(["update", target, "--service-updates", str(patched), "--yes"], env)
    return [e["operation"] for e in emu.requests(since) if e["api"] in ("arm", "classic", "bes", "rrs")]


def run(quick: bool = False) -> list[Result]:
    say("2. requests per operation (emulator request log)")
    results = []
    with azurite() as cs, emulator(storage=cs) as emu, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = client_env(emu, work)
        t = demo_targets(emu)
        model = upload_blob(cs, "models", "bench/model.ilearner", emulator_model())
        for tag, target, pattern, expected in (
            ("ARM update", t["arm"], ARM_PATTERN, "GET + PATCH + polls + GET"),
            ("classic patch", t["endpoint"], CLASSIC_PATTERN, "GET + PATCH + GET"),
        ):
            ops = measure(emu, env, target, work, model, tag.split()[0].lower())
            seq = " ".join(ops)
            ok = re.fullmatch(pattern, seq) is not None
            say(f"   {tag}: {len(ops)} requests: {seq}")
            results.append(Result("requests", f"{tag}: requests", len(ops), expected, ok, unit="",
                                  detail=", ".join(f"{o}" for o in ops)))
    return results
