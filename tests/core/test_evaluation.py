"""Evaluate Model CSV output and metric gates."""

from __future__ import annotations

import pytest

from amlws.errors import ExitCode, GateFailedError, UsageError
from amlws.evaluation import check_gates, parse_evaluation, parse_gate

REGRESSION = (
    "Mean Absolute Error,Root Mean Squared Error,Relative Absolute Error,Relative Squared Error,Coefficient of Determination\r\n"
    "2.113,3.052,0.312,0.118,0.882\r\n"
)
BINARY = (
    "\ufeffTrue Positive,False Negative,False Positive,True Negative,Accuracy,Precision,Recall,F-Score,AUC,Average Log Loss,Training Log Loss\n"
    "1500,372,280,5989,0.919,0.843,0.801,0.821,0.951,0.196,0.443\n"
    "1402,470,301,5968,0.905,0.823,0.749,0.784,0.940,0.221,0.371\n"
)


def test_regression() -> None:
    ev = parse_evaluation(REGRESSION.encode())
    assert ev.kind == "regression"
    assert ev.metrics == {
        "Mean Absolute Error": 2.113, "Root Mean Squared Error": 3.052, "Relative Absolute Error": 0.312,
        "Relative Squared Error": 0.118, "Coefficient of Determination": 0.882,
    }
    assert ev.get("coefficient of determination") == 0.882
    assert check_gates(ev, [parse_gate("Coefficient of Determination>=0.8"), parse_gate("root mean squared error < 3.5")]) == [
        {"gate": "Coefficient of Determination>=0.8", "metric": "Coefficient of Determination", "op": ">=", "threshold": 0.8, "value": 0.882, "passed": True},
        {"gate": "root mean squared error<3.5", "metric": "root mean squared error", "op": "<", "threshold": 3.5, "value": 3.052, "passed": True},
    ]


def test_binary_first_row_is_the_model() -> None:
    ev = parse_evaluation(BINARY)
    assert ev.kind == "binary" and len(ev.rows) == 2
    assert ev.get("Accuracy") == 0.919 and ev.get("F-SCORE") == 0.821 and ev.get("auc") == 0.951
    assert check_gates(ev, [parse_gate("Accuracy>=0.85")])[0]["passed"] is True


def test_tsv() -> None:
    ev = parse_evaluation("Overall accuracy\tAverage accuracy\n0.7\t0.8\n")
    assert ev.kind == "multiclass" and ev.metrics == {"Overall accuracy": 0.7, "Average accuracy": 0.8}


@pytest.mark.parametrize(("gate", "passed"), [
    ("Accuracy>=0.919", True), ("Accuracy>0.919", False), ("Accuracy<=0.919", True), ("Accuracy<0.919", False),
    ("Accuracy >= 0.95", False), ("Average Log Loss<0.2", True), ("AUC>9.5e-1", True),
])
def test_operators(gate: str, passed: bool) -> None:
    ev = parse_evaluation(BINARY)
    g = parse_gate(gate)
    assert g.check(ev)["passed"] is passed


def test_gate_failure_is_exit_5_naming_the_metric() -> None:
    ev = parse_evaluation(BINARY)
    with pytest.raises(GateFailedError) as info:
        check_gates(ev, [parse_gate("Accuracy>=0.95"), parse_gate("AUC>=0.9")])
    assert info.value.exit_code == ExitCode.CONFLICT == 5
    assert info.value.message == "the new model failed the gate: Accuracy = 0.919, needs >= 0.95"
    assert "not deployed" in (info.value.hint or "")
    assert [g["passed"] for g in info.value.details["gates"]] == [False, True]


def test_unknown_metric_lists_available() -> None:
    ev = parse_evaluation(REGRESSION)
    with pytest.raises(UsageError) as info:
        check_gates(ev, [parse_gate("Accuracy>=0.85")])
    assert "no metric 'Accuracy'" in info.value.message
    assert info.value.hint == (
        "available metrics: Mean Absolute Error, Root Mean Squared Error, Relative Absolute Error, "
        "Relative Squared Error, Coefficient of Determination"
    )


@pytest.mark.parametrize("text", ["Accuracy", "Accuracy=0.8", "Accuracy>=", ">=0.8", "Accuracy=>0.8", "Accuracy>=high"])
def test_invalid_gates(text: str) -> None:
    with pytest.raises(UsageError, match="invalid gate"):
        parse_gate(text)


def test_bad_outputs() -> None:
    with pytest.raises(UsageError, match="empty"):
        parse_evaluation(b"")
    with pytest.raises(UsageError, match="no data row"):
        parse_evaluation("Accuracy,AUC\n")
    ev = parse_evaluation("Result Description,Number of Points\nCombined Evaluation,100\n")
    with pytest.raises(UsageError, match="not a number"):
        parse_gate("Result Description>1").check(ev)
