"""A small real model in pure Python: what the emulator's BES jobs train and RRS scores with.

* ``linear`` - ordinary least squares linear regression (normal equations).
* ``logistic`` - binary logistic regression (Newton-Raphson / IRLS with a tiny L2 term).

The ``.ilearner`` is the emulator's own format: UTF-8 JSON with ``"format": "amlws-emulator-ilearner"``,
the algorithm, label, feature names and coefficients. Evaluation uses the column names of
Azure ML Studio's *Evaluate Model* module.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

ILEARNER_FORMAT = "amlws-emulator-ilearner"

REGRESSION_METRICS = ("Mean Absolute Error", "Root Mean Squared Error", "Relative Absolute Error",
                      "Relative Squared Error", "Coefficient of Determination")
CLASSIFICATION_METRICS = ("True Positive", "False Negative", "False Positive", "True Negative", "Accuracy", "Precision",
                          "Recall", "F-Score", "AUC", "Average Log Loss", "Training Log Loss")


class ModelError(ValueError):
    """Bad training data or a bad model file (becomes a BES ``Failed`` / an RRS 400)."""


# --- data ----------------------------------------------------------------------------


def read_csv(data: bytes | str) -> tuple[list[str], list[list[str]]]:
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows:
        raise ModelError("the input dataset is empty")
    header = [h.strip() for h in rows[0]]
    return header, rows[1:]


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(float(value)) else None
    try:
        v = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def choose_features(header: Sequence[str], rows: Sequence[Sequence[str]], label: str, features: Sequence[str] | None) -> list[str]:
    if label not in header:
        raise ModelError(f"label column {label!r} not found in the dataset (columns: {', '.join(header)})")
    if features:
        missing = [f for f in features if f not in header]
        if missing:
            raise ModelError(f"feature column(s) not found in the dataset: {', '.join(missing)}")
        return list(features)
    out = []
    for i, name in enumerate(header):
        if name == label:
            continue
        if rows and all(_num(r[i]) is not None for r in rows if i < len(r)):
            out.append(name)
    if not out:
        raise ModelError("no numeric feature columns in the dataset")
    return out


def matrix(header: Sequence[str], rows: Sequence[Sequence[str]], label: str, features: Sequence[str]) -> tuple[list[list[float]], list[float]]:
    li = header.index(label)
    fi = [header.index(f) for f in features]
    xs, ys = [], []
    for r in rows:
        if len(r) < len(header):
            continue
        y = _num(r[li])
        x = [_num(r[i]) for i in fi]
        if y is None or any(v is None for v in x):
            continue
        xs.append([1.0] + [float(v) for v in x])  # type: ignore[arg-type]
        ys.append(y)
    if len(xs) < len(features) + 2:
        raise ModelError(f"not enough numeric rows to train ({len(xs)}) for {len(features)} feature(s)")
    return xs, ys


# --- linear algebra ------------------------------------------------------------------------


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-10 * max(1.0, max(abs(m[r][col]) for r in range(n))):
            raise ModelError("the features are collinear (singular matrix); remove a redundant column")
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col and m[r][col] != 0.0:
                f = m[r][col] / m[col][col]
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    return [m[i][n] / m[i][i] for i in range(n)]


def _xtx(xs: list[list[float]], w: list[float] | None = None) -> list[list[float]]:
    p = len(xs[0])
    out = [[0.0] * p for _ in range(p)]
    for k, x in enumerate(xs):
        wk = 1.0 if w is None else w[k]
        for i in range(p):
            xi = x[i] * wk
            row = out[i]
            for j in range(i, p):
                row[j] += xi * x[j]
    for i in range(p):
        for j in range(i):
            out[i][j] = out[j][i]
    return out


def fit_linear(xs: list[list[float]], ys: list[float]) -> list[float]:
    a = _xtx(xs)
    b = [sum(x[i] * y for x, y in zip(xs, ys)) for i in range(len(xs[0]))]
    return _solve(a, b)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def fit_logistic(xs: list[list[float]], ys: list[float], iterations: int = 30, l2: float = 1e-4) -> list[float]:
    p = len(xs[0])
    beta = [0.0] * p
    for _ in range(iterations):
        probs = [_sigmoid(sum(b * v for b, v in zip(beta, x))) for x in xs]
        w = [max(pr * (1 - pr), 1e-9) for pr in probs]
        h = _xtx(xs, w)
        for i in range(1, p):
            h[i][i] += l2
        g = [sum(x[i] * (y - pr) for x, y, pr in zip(xs, ys, probs)) - (l2 * beta[i] if i else 0.0) for i in range(p)]
        step = _solve(h, g)
        beta = [b + s for b, s in zip(beta, step)]
        if max(abs(s) for s in step) < 1e-8:
            break
    return beta


# --- train / evaluate / score ----------------------------------------------------------------


def train(data: bytes | str, *, label: str, features: Sequence[str] | None = None, algorithm: str = "linear",
          holdout_every: int = 4, regression_accuracy: bool = False) -> tuple[dict[str, Any], dict[str, float]]:
    """Train on a CSV; returns ``(ilearner document, evaluation metrics)``.

    Every ``holdout_every``-th row (when there are at least 8 usable rows) is held out for the
    evaluation, as a Split Data module would; the rest trains the model.

    :param regression_accuracy: a linear model's metrics also get ``Accuracy``: the share of held-out
        rows predicted within 10 % of their label (at least ±1), the "accuracy" training scripts log
        for a regression (the v2 trainer logs it; Studio's Evaluate Model has no such column).
    """
    header, rows = read_csv(data)
    feats = choose_features(header, rows, label, features)
    xs, ys = matrix(header, rows, label, feats)
    classes: list[str] | None = None
    if algorithm == "logistic":
        distinct = sorted({y for y in ys})
        if len(distinct) != 2:
            raise ModelError(f"logistic regression needs exactly two label values, found {len(distinct)}")
        classes = [_fmt(distinct[0]), _fmt(distinct[1])]
        ys = [1.0 if y == distinct[1] else 0.0 for y in ys]
    elif algorithm != "linear":
        raise ModelError(f"unknown algorithm {algorithm!r} (use linear or logistic)")
    if len(xs) >= 8 and holdout_every > 1:
        train_idx = [i for i in range(len(xs)) if i % holdout_every != holdout_every - 1]
        test_idx = [i for i in range(len(xs)) if i % holdout_every == holdout_every - 1]
    else:
        train_idx = test_idx = list(range(len(xs)))
    tx, ty = [xs[i] for i in train_idx], [ys[i] for i in train_idx]
    beta = fit_logistic(tx, ty) if algorithm == "logistic" else fit_linear(tx, ty)
    model: dict[str, Any] = {
        "format": ILEARNER_FORMAT,
        "version": 1,
        "algorithm": "logistic_regression" if algorithm == "logistic" else "linear_regression",
        "label": label,
        "features": feats,
        "intercept": beta[0],
        "coefficients": dict(zip(feats, beta[1:])),
        "trainingRows": len(train_idx),
    }
    if classes:
        model["classes"] = classes
    ex, ey = [xs[i] for i in test_idx], [ys[i] for i in test_idx]
    if algorithm == "logistic":
        metrics = evaluate_classification(ey, [_sigmoid(sum(b * v for b, v in zip(beta, x))) for x in ex],
                                          train_probs=[_sigmoid(sum(b * v for b, v in zip(beta, x))) for x in tx], train_y=ty)
    else:
        predicted = [sum(b * v for b, v in zip(beta, x)) for x in ex]
        metrics = evaluate_regression(ey, predicted)
        if regression_accuracy:
            metrics["Accuracy"] = sum(abs(p - y) <= max(0.1 * abs(y), 1.0) for y, p in zip(ey, predicted)) / len(ey)
    return model, metrics


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


def evaluate_regression(y: Sequence[float], pred: Sequence[float]) -> dict[str, float]:
    n = len(y)
    mean = sum(y) / n
    abs_err = sum(abs(a - b) for a, b in zip(y, pred))
    sq_err = sum((a - b) ** 2 for a, b in zip(y, pred))
    abs_dev = sum(abs(a - mean) for a in y) or 1e-12
    sq_dev = sum((a - mean) ** 2 for a in y) or 1e-12
    return {
        "Mean Absolute Error": abs_err / n,
        "Root Mean Squared Error": math.sqrt(sq_err / n),
        "Relative Absolute Error": abs_err / abs_dev,
        "Relative Squared Error": sq_err / sq_dev,
        "Coefficient of Determination": 1.0 - sq_err / sq_dev,
    }


def _log_loss(y: Sequence[float], p: Sequence[float]) -> float:
    eps = 1e-15
    return -sum(a * math.log(min(max(q, eps), 1 - eps)) + (1 - a) * math.log(min(max(1 - q, eps), 1 - eps)) for a, q in zip(y, p)) / len(y)


def evaluate_classification(y: Sequence[float], probs: Sequence[float], *, train_probs: Sequence[float], train_y: Sequence[float]) -> dict[str, float]:
    tp = sum(1 for a, p in zip(y, probs) if a == 1 and p >= 0.5)
    fn = sum(1 for a, p in zip(y, probs) if a == 1 and p < 0.5)
    fp = sum(1 for a, p in zip(y, probs) if a == 0 and p >= 0.5)
    tn = sum(1 for a, p in zip(y, probs) if a == 0 and p < 0.5)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    pos = [p for a, p in zip(y, probs) if a == 1]
    neg = [p for a, p in zip(y, probs) if a == 0]
    auc = (sum((1.0 if pp > pn else 0.5 if pp == pn else 0.0) for pp in pos for pn in neg) / (len(pos) * len(neg))) if pos and neg else 0.5
    base = sum(train_y) / len(train_y)
    base_loss = _log_loss(train_y, [base] * len(train_y)) or 1e-12
    return {
        "True Positive": tp, "False Negative": fn, "False Positive": fp, "True Negative": tn,
        "Accuracy": (tp + tn) / len(y), "Precision": precision, "Recall": recall,
        "F-Score": (2 * precision * recall / (precision + recall)) if precision + recall else 0.0,
        "AUC": auc, "Average Log Loss": _log_loss(y, probs),
        "Training Log Loss": 100.0 * (1.0 - _log_loss(train_y, train_probs) / base_loss),
    }


def metrics_csv(metrics: dict[str, float]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(metrics))
    w.writerow([_fmt(v) if isinstance(v, int) else repr(float(v)) for v in metrics.values()])
    return buf.getvalue().encode("utf-8")


def dumps(model: dict[str, Any]) -> bytes:
    return (json.dumps(model, indent=2) + "\n").encode("utf-8")


def loads(data: bytes) -> dict[str, Any]:
    try:
        model = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError("the trained model is not an amlws emulator .ilearner (not JSON)") from None
    if not isinstance(model, dict) or model.get("format") != ILEARNER_FORMAT:
        raise ModelError("the trained model is not an amlws emulator .ilearner")
    return model


def make_model(*, label: str, coefficients: dict[str, float], intercept: float, algorithm: str = "linear_regression",
               classes: list[str] | None = None) -> dict[str, Any]:
    """A model document built by hand (seed data)."""
    m: dict[str, Any] = {"format": ILEARNER_FORMAT, "version": 1, "algorithm": algorithm, "label": label,
                         "features": list(coefficients), "intercept": float(intercept),
                         "coefficients": {k: float(v) for k, v in coefficients.items()}, "trainingRows": 0}
    if classes:
        m["classes"] = classes
    return m


def score_rows(model: dict[str, Any], columns: Sequence[str], values: Sequence[Sequence[Any]]) -> tuple[list[str], list[str], list[list[str]]]:
    """Score DataTable rows: returns (ColumnNames, ColumnTypes, Values) with Score Model's columns appended."""
    feats = model["features"]
    missing = [f for f in feats if f not in columns]
    if missing:
        raise ModelError(f"input is missing column(s) the model needs: {', '.join(missing)}")
    idx = [list(columns).index(f) for f in feats]
    logistic = model.get("algorithm") == "logistic_regression"
    out_cols = list(columns) + (["Scored Labels", "Scored Probabilities"] if logistic else ["Scored Labels"])
    types = ["String"] * len(columns) + (["String", "Double"] if logistic else ["Double"])
    out: list[list[str]] = []
    for row in values:
        xs = []
        for i in idx:
            v = _num(row[i]) if i < len(row) else None
            if v is None:
                raise ModelError(f"value {row[i] if i < len(row) else None!r} of column {columns[i]!r} is not a number")
            xs.append(v)
        z = model["intercept"] + sum(model["coefficients"][f] * v for f, v in zip(feats, xs))
        cells = ["" if c is None else str(c) for c in row]
        if logistic:
            p = _sigmoid(z)
            classes = model.get("classes") or ["0", "1"]
            cells += [classes[1] if p >= 0.5 else classes[0], repr(p)]
        else:
            cells.append(repr(z))
        out.append(cells)
    return out_cols, types, out
