"""``amlws arm list|new|remove|keys|add-region``, and the old top-level names kept as hidden aliases:
same requests, same JSON, same exit codes; ``get --region`` is an option the ARM backend declares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _both(run, server, argv: list[str], expect=None) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """Run ``amlws arm ARGV`` then ``amlws ARGV``; each against the same answers (``expect(server)``)."""
    results = []
    for prefix in (["arm"], []):
        server.clear()
        if expect is not None:
            expect(server)
        results.append(run(*prefix, *argv))
        results[-1] = (*results[-1], [(r.method, r.full_path) for r, _ in server.log])  # type: ignore[assignment]
    return results[0], results[1]


def test_list_keys_in_the_group_and_as_aliases(run, server, h):
    item = {"id": h.WS_PATH, "name": h.NAME, "location": "West US", "properties": {"title": "T", "provisioningState": "Succeeded"}}
    coll = f"/subscriptions/{h.SUB}/resourceGroups/{h.RG}/providers/Microsoft.MachineLearning/webServices"
    keys = {"primary": "primary-key-value-123", "secondary": "secondary-key-value-456"}
    grouped, alias = _both(run, server, ["list", "-g", h.RG, "--subscription", h.SUB, "-o", "json"],
                           lambda s: s.expect_request(coll, method="GET").respond_with_json({"value": [item]}))
    assert grouped[0] == 0, grouped[2]
    assert json.loads(grouped[1]) == [item]
    assert alias == grouped  # exit code, JSON, stderr and the requests sent
    grouped, alias = _both(run, server, ["keys", h.WS_PATH, "-o", "json"],
                           lambda s: s.expect_request(h.WS_PATH + "/listKeys", method="GET").respond_with_json(keys))
    assert grouped[0] == 0 and json.loads(grouped[1]) == keys
    assert alias == grouped


def test_new_remove_add_region_plans_are_the_same(run, server, h, live_document, tmp_path: Path):
    path = h.definition_file(tmp_path, live_document)
    for argv in (["new", h.WS_PATH, "--definition-file", str(path), "--location", "West US"],
                 ["remove", h.WS_PATH], ["add-region", h.WS_PATH, "--region", "Southeast Asia"]):
        grouped, alias = _both(run, server, [*argv, "--what-if", "-o", "json"])
        assert grouped[0] == 0, grouped[2]
        assert json.loads(grouped[1])["whatIf"] is True and grouped[3] == []
        assert alias == grouped


@pytest.mark.parametrize(("argv", "code"), [(["remove", "WS"], 2), (["add-region", "WS", "--yes"], 2), (["keys", "WS"], 3)])
def test_errors_keep_their_exit_codes(run, server, h, argv, code):
    argv = [h.WS_PATH if a == "WS" else a for a in argv]

    def not_found(s):
        s.expect_request(h.WS_PATH + "/listKeys", method="GET").respond_with_json(
            {"error": {"code": "ResourceNotFound", "message": "not found"}}, status=404)

    grouped, alias = _both(run, server, argv, not_found)
    assert grouped[0] == code, grouped[2]
    assert alias == grouped


def test_the_group_is_in_the_help_and_the_aliases_are_not(run):
    code, out, _ = run("--help")
    commands = out.split("Commands:")[1]
    assert code == 0 and "  arm " in commands
    assert not any(line.split()[:1] in (["list"], ["new"], ["remove"], ["keys"], ["add-region"]) for line in commands.splitlines())
    code, out, _ = run("arm", "--help")
    assert code == 0 and all(f"  {c} " in out for c in ("list", "new", "remove", "keys", "add-region"))
    assert "amlws arm list -g MyRG" in out


def test_get_region_is_declared_by_the_backend_and_reaches_it_through_the_invocation(run, server, h, live_document):
    server.expect_request(h.WS_PATH, method="GET").respond_with_json(live_document)
    code, out, err = run("get", h.WS_PATH, "--region", "Southeast Asia", "-o", "json")
    assert code == 0, err
    (req, _), = server.log
    assert req.args.get("region") == "Southeast Asia"
    code, out, _ = run("get", "--help")
    assert "--region REGION" in out and "ARM: region whose encrypted credentials to return." in " ".join(out.split())
    code, out, _ = run("export", "--help")
    assert "--region" not in out  # declared for get only
