"""The output layer: -o tsv and -o none (as az), tables that never break an id, metric precision."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from amlws import hookimpl
from amlws.cli.application import hoist_global_options
from amlws.model import Definition
from amlws.output import render_table

from .conftest import AcmeBackend

pytestmark = pytest.mark.usefixtures("amlws_env")

ARM_ID = (
    "/subscriptions/0d8d1a8f-1234-4c4e-9d7b-3a5c0f1e2b7a/resourceGroups/retraining-rg/providers/"
    "Microsoft.MachineLearning/webServices/census-income-predictive"
)


class Backend(AcmeBackend):
    @hookimpl
    def amlws_get_definition(self, target):
        return Definition("acme", {"name": target.id.split(":", 1)[1], "properties": {"title": "T", "n": 3}}, target)


@pytest.fixture
def pm(make_pm):
    return make_pm((Backend(), "acme"))


# --- -o tsv and -o none -------------------------------------------------------------------------------


def test_tsv_is_values_only_one_line_per_item_keys_sorted_as_az(pm, run_cli):
    code, out, err = run_cli(["plugins", "-o", "tsv"], pm)
    # keys sorted: backend, distribution, hooks (a list: its length), name, version (null: None)
    assert (code, out) == (0, "acme\tNone\t3\tacme\tNone\n")
    code, out, _ = run_cli(["get", "acme:svc", "-o", "tsv"], pm)
    assert (code, out) == (0, "svc\t\n")  # a nested object is an empty field


def test_tsv_after_a_query_keeps_the_query_order(pm, run_cli):
    code, out, _ = run_cli(["plugins", "--query", "[].{n: name, b: backend, h: hooks[0]}", "-o", "tsv"], pm)
    assert (code, out) == (0, "acme\tacme\tamlws_backend_info\n")
    code, out, _ = run_cli(["get", "acme:svc", "--query", "properties.n", "-otsv"], pm)
    assert (code, out) == (0, "3\n")


def test_to_tsv_scalars_lists_and_precision():
    from amlws.output import to_tsv

    assert to_tsv([1, "a", True, None]) == "1\na\ntrue\nNone\n"
    assert to_tsv([[1, 2.123456789012345], [True, {"x": 1}]]) == "1\t2.123456789012345\ntrue\t\n"
    assert to_tsv({"b": [1, 2], "a": False}) == "false\t2\n"
    assert to_tsv([]) == ""


def test_a_command_can_give_the_rows_tsv_prints_unless_queried():
    from amlws.output import emit

    data = {"outputs": {"o": {"columns": ["a", "b"], "rows": [["1", "x y"], ["2", "z"]]}}}
    rows = lambda d: [r for t in d["outputs"].values() for r in t["rows"]]  # noqa: E731
    for query, expected in ((None, "1\tx y\n2\tz\n"), ("outputs.o.columns", "a\nb\n")):
        out = io.StringIO()
        emit(data, output="tsv", query=query, tsv=rows, stream=out)
        assert out.getvalue() == expected
    out = io.StringIO()
    emit(data, output="json", tsv=rows, stream=out)
    assert json.loads(out.getvalue()) == data


def test_none_prints_nothing_and_keeps_the_exit_code(pm, run_cli):
    assert run_cli(["get", "acme:svc", "-o", "none"], pm) == (0, "", "")
    code, out, err = run_cli(["get", "acme:svc", "--query", "[[[", "-o", "none"], pm)
    assert (code, out) == (2, "") and err.startswith("error: invalid --query")


def test_hoisting_takes_an_attached_short_output_value():
    assert hoist_global_options(["get", "X", "-otsv"]) == ["-otsv", "get", "X"]


# --- tables ------------------------------------------------------------------------------------------


def _cells(text: str) -> list[str]:
    return [c.strip() for line in text.splitlines() for c in re.split(r"[│┃]", line) if c.strip()]


def test_a_table_never_breaks_an_id_it_shows_what_fits(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    rows = [{"name": "census-income-predictive", "location": "South Central US", "provisioningState": "Succeeded", "id": ARM_ID}]
    out = io.StringIO()
    render_table(rows, stream=out)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    pieces = [c for c in _cells(text) if "/" in c or "Microsoft" in c or "webServices" in c or c.endswith("-predictive…")
              or c.startswith("…")]
    # the id is shown on one line, cut in the middle with "…" keeping its end, never continued on the next line
    assert len(pieces) == 1, text
    head, _, tail = pieces[0].partition("…")
    assert ARM_ID.startswith(head) and ARM_ID.endswith(tail) and tail.endswith("income-predictive"), text


def _service(name: str) -> dict[str, str]:
    return {"name": name, "location": "West Europe", "provisioningState": "Succeeded",
            "title": "Bike rental predictive experiment [Predictive Exp.]", "id": ARM_ID.replace("census-income-predictive", name)}


@pytest.mark.parametrize("width", [80, 120])
def test_a_table_keeps_names_whole_short_columns_on_one_line_and_ids_cut_in_the_middle(monkeypatch, width):
    """Two names sharing a long prefix stay whole (they identify the rows); the title wraps at
    words and the id gives way (cut in the middle, keeping its distinguishing end) before them;
    a short value such as a location is never wrapped."""
    monkeypatch.setenv("COLUMNS", str(width))
    rows = [_service("bike-rental-predictive"), _service("bike-rental-predictive-2")]
    out = io.StringIO()
    render_table(rows, stream=out)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width, text
    lines = [_cells(line) for line in text.splitlines()]
    firsts = [c for c in lines if c and c[0].startswith("bike-rental")]
    assert [c[:3] for c in firsts] == [["bike-rental-predictive", "West Europe", "Succeeded"],
                                       ["bike-rental-predictive-2", "West Europe", "Succeeded"]], text
    tails = []
    for row, cells in zip(rows, firsts):
        head, cut, tail = cells[-1].partition("…")
        assert cut and row["id"].startswith(head) and row["id"].endswith(tail), text
        tails.append(tail)
    assert tails[0] != tails[1]  # the end that tells the two apart
    if width >= 120:
        assert [t.rsplit("/", 1)[-1] for t in tails] == [r["name"] for r in rows], text
    assert "Europe" not in [c for line in lines for c in line]  # "West Europe" not wrapped
    assert sum("Bike" in c for c in _cells(text)) == 2 and "Exp.]" in _cells(text)  # the title wraps at words


def test_cut_middle_keeps_whole_path_segments_and_the_end():
    from amlws.output import cut_middle

    rid = ARM_ID.replace("census-income-predictive", "bike-rental-predictive")
    assert cut_middle(rid, 60) == "/subscriptions/…/webServices/bike-rental-predictive"
    assert cut_middle(rid, 38) == "…/webServices/bike-rental-predictive"
    assert cut_middle(rid, 12) == "…-predictive"
    assert cut_middle(rid, len(rid)) == rid
    assert cut_middle("0d8d1a8f-1234-4c4e-9d7b-3a5c0f1e2b7a", 20) == "0d8d1a…-3a5c0f1e2b7a"


def test_a_table_shows_a_whole_id_when_it_fits(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    out = io.StringIO()
    render_table({"id": ARM_ID, "url": "https://example.invalid/" + "x" * 120}, stream=out)
    assert ARM_ID in _cells(out.getvalue())


def test_a_json_cell_is_not_cut_short(monkeypatch):
    monkeypatch.setenv("COLUMNS", "600")
    value = {f"key{i}": "v" * 20 for i in range(12)}  # > 200 characters of JSON
    out = io.StringIO()
    render_table({"properties": value}, stream=out)
    assert json.dumps(value) in out.getvalue()


# --- numbers -----------------------------------------------------------------------------------------


def test_decimal_strings_show_four_significant_digits_in_tables_ints_and_ids_as_they_are(monkeypatch):
    """RRS returns scores as strings: a table rounds them like numbers; JSON keeps them exact."""
    from amlws.output import emit, format_number

    assert [format_number(v) for v in ("-17.412915632731572", "0.5", "1e5", ".25")] == ["-17.41", "0.5", "1e+05", "0.25"]
    assert [format_number(v) for v in ("42", "1.2.3", "2017-01-01", "0d8d1a8f", "nan", " 1.5", "")] == [
        "42", "1.2.3", "2017-01-01", "0d8d1a8f", "nan", " 1.5", ""]
    monkeypatch.setenv("COLUMNS", "80")
    data = [{"age": "39", "Scored Probabilities": "-17.412915632731572"}]
    out = io.StringIO()
    emit(data, stream=out)
    assert ["39", "-17.41"] in [_cells(line) for line in out.getvalue().splitlines()]
    out = io.StringIO()
    emit(data, output="json", stream=out)
    assert json.loads(out.getvalue()) == data



def test_metrics_four_significant_digits_in_tables_full_precision_in_json(pm, run_cli, tmp_path: Path):
    csv = tmp_path / "eval.csv"
    csv.write_text("AUC,Accuracy,Precision,Recall\n0.8912345678901234,0.8456789012345678,0.7,12345.678\n")
    code, out, _ = run_cli(["evaluate", str(csv)], pm)
    assert code == 0
    assert "0.8912" in out and "0.8457" in out and "0.7" in out and "1.235e+04" in out
    assert "0.891234" not in out and "0.845678" not in out
    code, out, _ = run_cli(["evaluate", str(csv), "-o", "json"], pm)
    assert json.loads(out)["metrics"] == {"AUC": 0.8912345678901234, "Accuracy": 0.8456789012345678, "Precision": 0.7, "Recall": 12345.678}


def test_retrain_table_shows_the_smoke_predictions_side_by_side(monkeypatch, capsys):
    from amlws.cli.retrain import _print_retrain

    monkeypatch.setenv("COLUMNS", "160")
    columns = ["age", "Scored Labels", "Scored Probabilities"]
    before = {"output1": {"columns": columns, "types": [], "rows": [["39", "0", "0.1"], ["50", "1", "0.6"]]}}
    after = {"output1": {"columns": columns, "types": [], "rows": [["39", "1", "0.7"], ["50", "1", "0.6"]]}}
    result = {
        "runId": "r1", "status": "deployed", "target": ARM_ID,
        "steps": {
            "evaluation": {"metrics": {"AUC": 0.8912345678901234}},
            "gate": {"passed": True, "gates": [{"metric": "AUC", "value": 0.8912345678901234, "op": ">=", "threshold": 0.8}]},
            "smokeBefore": {"outputs": before},
            "smokeAfter": {"outputs": after, "changed": True},
        },
    }
    _print_retrain(result)
    out = capsys.readouterr().out
    assert "AUC=0.8912" in out and "AUC=0.8912 >= 0.8" in out and "0.891234" not in out
    assert "predictions changed" in out
    lines = [_cells(line) for line in out.splitlines()]
    header = next(c for c in lines if "Scored Labels before" in c)
    assert header == ["row", "Scored Labels before", "Scored Labels after", "Scored Probabilities before", "Scored Probabilities after", "changed"]
    assert ["1", "0", "1", "0.1", "0.7", "yes"] in lines
    assert ["2", "1", "1", "0.6", "0.6", "no"] in lines


def test_a_document_is_json_for_people_too_tsv_and_none_as_any_result():
    from amlws.output import emit_document

    doc = {"name": "svc", "properties": {"title": "T"}}
    for output, expected in (("table", json.dumps(doc, indent=2) + "\n"), ("json", json.dumps(doc, indent=2) + "\n"),
                             ("tsv", "svc\t\n"), ("none", "")):
        out = io.StringIO()
        emit_document(doc, output=output, stream=out)
        assert out.getvalue() == expected, output
    out = io.StringIO()
    emit_document(doc, output="table", query="properties.title", stream=out)
    assert out.getvalue() == '"T"\n'


def test_a_debug_call_leaves_no_azure_handler_for_the_next_call(monkeypatch) -> None:
    """Scripts and tests run several commands in one interpreter: after a ``--debug`` command, a
    plain one must not keep tracing azure-core to the first command's stderr."""
    import io
    import logging

    from amlws.output import setup_logging

    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    setup_logging(debug=True)
    logging.getLogger("azure.core.pipeline").debug("traced while debugging")
    assert "traced while debugging" in first.getvalue()
    second = io.StringIO()
    monkeypatch.setattr("sys.stderr", second)
    setup_logging(debug=False)
    logging.getLogger("azure.core.pipeline").debug("poll-2")
    assert "poll-2" not in first.getvalue() + second.getvalue()
    az = logging.getLogger("azure")
    assert not [h for h in az.handlers if getattr(h, "_amlws", False)]
    assert az.propagate and az.level == logging.NOTSET
