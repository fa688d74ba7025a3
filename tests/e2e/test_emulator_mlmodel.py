"""The emulator's pure-Python model: OLS and logistic regression, Evaluate Model metrics, .ilearner format."""

from __future__ import annotations

import csv
import io
import random

import pytest

from amlws.emulator import mlmodel


def _csv(rows: list[list[object]], header: list[str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def test_ols_recovers_exact_coefficients_and_perfect_metrics():
    rows = [[x, z, 3 + 2 * x - 0.5 * z] for x in range(6) for z in range(0, 30, 7)]
    model, metrics = mlmodel.train(_csv(rows, ["x", "z", "y"]), label="y")
    assert model["features"] == ["x", "z"]
    assert model["intercept"] == pytest.approx(3) and model["coefficients"] == {"x": pytest.approx(2), "z": pytest.approx(-0.5)}
    assert metrics["Coefficient of Determination"] == pytest.approx(1.0)
    assert metrics["Mean Absolute Error"] == pytest.approx(0, abs=1e-6)
    assert list(metrics) == list(mlmodel.REGRESSION_METRICS)
    again = mlmodel.loads(mlmodel.dumps(model))
    cols, types, values = mlmodel.score_rows(again, ["z", "x"], [["10", "1"]])
    assert cols == ["z", "x", "Scored Labels"] and types[-1] == "Double" and float(values[0][-1]) == pytest.approx(0.0, abs=1e-6)
    text = mlmodel.metrics_csv(metrics).decode().splitlines()
    assert text[0] == "Mean Absolute Error,Root Mean Squared Error,Relative Absolute Error,Relative Squared Error,Coefficient of Determination"


def test_logistic_regression_separates_classes():
    rnd = random.Random(1)
    rows = [[x, 1 if x + rnd.gauss(0, 1) > 5 else 0] for x in [rnd.uniform(0, 10) for _ in range(120)]]
    model, metrics = mlmodel.train(_csv(rows, ["x", "label"]), label="label", algorithm="logistic")
    assert model["algorithm"] == "logistic_regression" and model["classes"] == ["0", "1"]
    assert metrics["Accuracy"] > 0.8 and metrics["AUC"] > 0.85
    assert list(metrics) == list(mlmodel.CLASSIFICATION_METRICS)
    cols, _, values = mlmodel.score_rows(model, ["x"], [["9"], ["1"]])
    assert cols[-2:] == ["Scored Labels", "Scored Probabilities"] and [v[1] for v in values] == ["1", "0"]


@pytest.mark.parametrize("data, label, message", [
    (b"", "y", "empty"),
    (b"x,y\n1,2\n", "q", "label column 'q' not found"),
    (b"x,y\n1,2\n2,3\n", "y", "not enough numeric rows"),
    (b"a,b,y\n1,2,3\n2,4,5\n3,6,7\n4,8,9\n", "y", "collinear"),
])
def test_bad_training_data(data, label, message):
    with pytest.raises(mlmodel.ModelError, match=message):
        mlmodel.train(data, label=label, holdout_every=0)


def test_not_an_ilearner():
    with pytest.raises(mlmodel.ModelError):
        mlmodel.loads(b"\x00binary")
    with pytest.raises(mlmodel.ModelError):
        mlmodel.loads(b'{"format": "other"}')
