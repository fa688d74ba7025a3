"""5. Large definitions: a generated ~50 MB ARM web-service definition (tens of thousands of
graph nodes) through export -> patch-ilearner -> import, each step against plain
``json.load`` + ``json.dump`` of the same file (target < 3x per step) and its peak memory
(``tracemalloc``, Python allocations; target < 4x the file size).

Each step runs in a fresh process, through the same code the CLI runs, and so does each
baseline: every side is timed by the harness's wall clock around its whole process (start-up
and imports included), median of ``REPEATS``, interleaved (``common.time_sides``):
- export: the service is large, so its GET body has ``payloadsInBlobStorage: true`` and a
  ``payloadsLocation``; the step parses that body, reads the payload blob (served on loopback by
  this process, outside the measured one) and merges it back, as ``ArmClient.get`` does
  (``plugins/arm/payloads.py``), then ``Host.export`` -> ``api.write_json`` (``amlws export -f``).
  Its baseline and its memory ratio use the whole definition's file;
- patch-ilearner: ``amlws patch-ilearner FILE --uri URL -f OUT``;
- import: ``api.load_definition`` + ``api.write_json``, i.e. ``amlws import -i FILE -f OUT`` without
  its echo of the whole (redacted) document on stdout.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPEATS, REPO, STATISTIC, Result, clean_env, say, time_sides

TARGET_TIME = 3.0
TARGET_MEMORY = 4.0
MODEL_URI = "https://bench.blob.core.windows.net/models/retrain/run-1/model.ilearner"

STEP = r'''
import json, sys, tracemalloc
from pathlib import Path
mode, step, src, dst = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
memory = mode == "memory"
if step != "baseline":
    from amlws import api
    from amlws.cli.application import main
    from amlws.config import Settings
    from amlws.host import Host, check_plugins, get_plugin_manager, register_plugin
    from amlws.model import Definition, Target
    import amlws.plugins.arm as arm
    from amlws.plugins.arm.payloads import inline_payloads
    import amlws.http, requests  # imported before tracemalloc, like the rest of the CLI's modules
    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, arm, "arm")
    check_plugins(pm)
    host = Host(pm, Settings(env={}))
    raw = src.read_bytes() if step == "export" else None
if memory:
    tracemalloc.start()
if step == "baseline":
    with open(src, encoding="utf-8") as fh:
        doc = json.load(fh)
    with open(dst, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, ensure_ascii=False)
    del doc
elif step == "export":
    doc = json.loads(raw)
    del raw
    doc = inline_payloads(doc, host.settings)
    rid = doc["id"]
    target = Target("arm", rid, {})
    api.write_json(dst, host.export(Definition("arm", doc, target)), force=True)
elif step == "patch-ilearner":
    code = main(["patch-ilearner", str(src), "--uri", sys.argv[5], "-f", str(dst), "--yes", "-o", "json"], pm=pm)
    assert code == 0, code
elif step == "import":
    # what `amlws import -i FILE -f OUT` does before it also echoes the document on stdout
    definition = api.load_definition(host, input_file=src)
    api.write_json(dst, definition.document, force=True)
peak = tracemalloc.get_traced_memory()[1] if memory else 0
print(json.dumps({"peak": peak}))
'''


def generate(path: Path, target_mb: float) -> dict[str, int]:
    """A predictive-experiment web service with a big graph: many nodes with realistic parameters."""
    rnd = random.Random(2026)
    sub = "00000000-0000-4000-8000-000000000001"
    rid = f"/subscriptions/{sub}/resourceGroups/amlws-demo/providers/Microsoft.MachineLearning/webServices/big-graph"
    columns = [f"feature_{i:03d}" for i in range(60)]
    nodes: dict[str, object] = {}
    edges: list[dict[str, str]] = []
    size = 0
    i = 0
    while size < target_mb * 1e6 / 1.39:  # the file is written indented: ~1.39x the compact size
        node_id = f"node{i:06d}"
        params = {
            "Column Selection": {"value": json.dumps({"isFilter": True, "rules": [{"ruleType": "ColumnNames", "columns": rnd.sample(columns, 12)}]})},
            "Normalization Method": {"value": rnd.choice(["ZScore", "MinMax", "Logistic", "LogNormal", "Tanh"])},
            "Random seed": {"value": str(rnd.randint(0, 10**6))},
        }
        if i % 4 == 0:
            params["R Script"] = {"value": "# node %d\n" % i + "dataset1 <- maml.mapInputPort(1)\n" * rnd.randint(10, 30)
                                  + "maml.mapOutputPort(\"dataset1\");\n"}
        node = {"assetId": f"asset{i % 50}", "inputId": None, "outputId": None, "parameters": params}
        nodes[node_id] = node
        if i:
            edges.append({"sourceNodeId": f"node{i - 1:06d}", "sourcePortId": "Results dataset",
                          "targetNodeId": node_id, "targetPortId": "Dataset"})
        size += len(json.dumps(node)) + 140
        i += 1
    assets = {f"asset{k}": {"name": f"Module {k}", "type": "Module", "locationInfo": {"uri": f"aml://module/{k:032x}"}} for k in range(50)}
    assets["asset-model"] = {"name": "Bike Rental [trained model]", "type": "Resource",
                             "locationInfo": {"uri": "https://bench.blob.core.windows.net/models/old.ilearner"}}
    doc = {
        "id": rid, "name": "big-graph", "type": "Microsoft.MachineLearning/webServices", "location": "South Central US",
        "tags": {},
        "properties": {
            "title": "big graph", "description": "generated for bench/bench_large.py", "provisioningState": "Succeeded",
            "readOnly": False, "exposeSampleData": False,
            "realtimeConfiguration": {"maxConcurrentCalls": 4},
            "diagnostics": {"level": "None"},
            "storageAccount": {"name": "benchstorage"},
            "machineLearningWorkspace": {"id": "0123456789abcdef0123456789abcdef"},
            "commitmentPlan": {"id": f"/subscriptions/{sub}/resourceGroups/amlws-demo/providers/Microsoft.MachineLearning/commitmentPlans/plan"},
            "input": {"title": "input", "type": "object", "properties": {"input1": {"type": "object", "properties": {c: {"type": "number", "format": "Double"} for c in columns}}}},
            "output": {"title": "output", "type": "object", "properties": {"output1": {"type": "object", "properties": {"Scored Labels": {"type": "number", "format": "Double"}}}}},
            "assets": assets,
            "parameters": {},
            "packageType": "Graph",
            "package": {"nodes": nodes, "edges": edges, "graphParameters": {}},
        },
    }
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return {"nodes": len(nodes), "edges": len(edges), "bytes": path.stat().st_size}


PAYLOAD_PARTS = ("assets", "input", "output", "package", "parameters", "exampleRequest")


def offload(full: Path, work: Path, port: int) -> Path:
    """The GET body of the large service (parts in blob storage) and the payload blob beside it."""
    doc = json.loads(full.read_text(encoding="utf-8"))
    props = doc["properties"]
    parts = {k: props.pop(k) for k in PAYLOAD_PARTS if k in props}
    (work / "payload.json").write_text(json.dumps(parts, separators=(",", ":")), encoding="utf-8")
    props["payloadsInBlobStorage"] = True
    props["payloadsLocation"] = {"uri": f"http://127.0.0.1:{port}/payload.json", "credentials": "?sv=2017-04-17&sr=b&sp=r&sig=bench"}
    body = work / "get-body.json"
    body.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return body


def serve(directory: Path) -> tuple[object, int]:
    """A loopback HTTP server for the payload blob (in this process: not measured)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def step(mode: str, name: str, src: Path, dst: Path) -> dict[str, float]:
    r = subprocess.run([sys.executable, "-c", STEP, mode, name, str(src), str(dst), MODEL_URI], capture_output=True, text=True,
                       env=clean_env(AMLWS_STATE_DIR=str(dst.parent / "state"), AMLWS_CONFIG_DIR=str(dst.parent / "config")),
                       cwd=str(REPO), timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"{name} failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[Result]:
    mb = 10 if quick else 50
    say(f"5. large definitions (~{mb} MB ARM definition)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        full = work / "full.json"
        info = generate(full, mb)
        size = info["bytes"]
        say(f"   generated {size / 1e6:.1f} MB: {info['nodes']} graph nodes, {info['edges']} edges (payload in blob storage)")
        server, port = serve(work)
        get_body = offload(full, work, port)
        exported, patched, imported = work / "exported.json", work / "patched.json", work / "imported.json"
        plan = [("export", get_body, exported), ("patch-ilearner", exported, patched), ("import", patched, imported)]
        # each step, and the baseline on the same input as that step (the exported file is what
        # patch-ilearner and import read), in this order in every round
        sides = {}
        whole = {name: full if name == "export" else src for name, src, _ in plan}  # the definition each step handles
        for name, src, dst in plan:
            sides[name] = lambda i, name=name, src=src, dst=dst: step("time", name, src, dst)
            sides[f"baseline {name}"] = lambda i, name=name: step("time", "baseline", whole[name], work / f"baseline-{name}.json")
        times = time_sides(sides)
        say(f"   {STATISTIC} of {REPEATS} interleaved runs each, wall clock of the whole process: "
            + "; ".join(f"{k} {t.runs()}" for k, t in times.items()))
        memory = {name: step("memory", name, src, work / f"mem-{name}.json") for name, src, _ in plan}
        base_mem = step("memory", "baseline", exported, work / "baseline-mem.json")
        server.shutdown()
        assert json.loads(patched.read_text(encoding="utf-8"))["properties"]["assets"]["asset-model"]["locationInfo"]["uri"] == MODEL_URI
        for name, _, _ in plan:
            src = whole[name]
            ratio = times[name].value / times[f"baseline {name}"].value
            mem = memory[name]["peak"] / src.stat().st_size
            results.append(Result("large", f"{name}: time / json.load+json.dump", ratio, f"< {TARGET_TIME:g}x", ratio < TARGET_TIME,
                                  detail=f"{times[name].value:.2f} s vs {times[f'baseline {name}'].value:.2f} s ({STATISTIC} of {REPEATS}, "
                                         "whole processes)"))
            results.append(Result("large", f"{name}: peak memory / file size", mem, f"< {TARGET_MEMORY:g}x", mem < TARGET_MEMORY,
                                  detail=f"{memory[name]['peak'] / 1e6:.0f} MB for {src.stat().st_size / 1e6:.0f} MB; "
                                         f"json.load+json.dump alone {base_mem['peak'] / exported.stat().st_size:.2f}x"))
        total = sum(times[n].value for n, _, _ in plan) / sum(times[f"baseline {n}"].value for n, _, _ in plan)
        say(f"   whole chain: {total:.2f}x three json.load+json.dump")
    return results
