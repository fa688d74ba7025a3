"""Evaluate Model output (the CSV a BES job writes from an Evaluate Model module) and metric gates.

Evaluate Model writes one header row with the metric names and one row per evaluated
model (the first row is the model on its left input), e.g. for regression::

    Mean Absolute Error,Root Mean Squared Error,Relative Absolute Error,Relative Squared Error,Coefficient of Determination
    2.11,3.05,0.31,0.12,0.88

and for binary classification ``True Positive, False Negative, False Positive, True Negative,
Accuracy, Precision, Recall, F-Score, AUC, Average Log Loss, Training Log Loss``; multiclass
writes ``Overall accuracy, Average accuracy, Micro-averaged precision, ...``.

The gates (``"Accuracy>=0.85"``) are backend-neutral: :mod:`amlws.gates`; their names stay
importable from here.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .gates import Gate, check_gates, parse_gate
from .gates import norm as _norm

REGRESSION_METRICS = (
    "Mean Absolute Error",
    "Root Mean Squared Error",
    "Relative Absolute Error",
    "Relative Squared Error",
    "Coefficient of Determination",
)
BINARY_METRICS = (
    "True Positive", "False Negative", "False Positive", "True Negative",
    "Accuracy", "Precision", "Recall", "F-Score", "AUC", "Average Log Loss", "Training Log Loss",
)
MULTICLASS_METRICS = (
    "Overall accuracy", "Average accuracy", "Micro-averaged precision", "Macro-averaged precision",
    "Micro-averaged recall", "Macro-averaged recall",
)

def _number(value: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


@dataclass
class Evaluation:
    """Parsed Evaluate Model output.

    :param columns: the metric names as written.
    :param rows: every row (numbers as floats, other cells as strings).
    :param metrics: the first row as ``name -> value`` (the model being evaluated).
    """

    columns: list[str]
    rows: list[list[Any]]
    metrics: dict[str, Any]

    @property
    def kind(self) -> str:
        names = {_norm(c) for c in self.columns}
        for kind, known in (("regression", REGRESSION_METRICS), ("binary", BINARY_METRICS), ("multiclass", MULTICLASS_METRICS)):
            if {_norm(m) for m in known} & names and len({_norm(m) for m in known} & names) >= 2:
                return kind
        return "other"

    def get(self, metric: str) -> Any:
        """A metric of the first row by case-insensitive name.

        :raises UsageError: naming the metrics that exist.
        """
        wanted = _norm(metric)
        for name, value in self.metrics.items():
            if _norm(name) == wanted:
                return value
        raise UsageError(
            f"the evaluation output has no metric {metric!r}",
            hint="available metrics: " + ", ".join(self.columns),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "metrics": self.metrics, "rows": len(self.rows)}


def parse_evaluation(data: bytes | str, *, delimiter: str | None = None) -> Evaluation:
    """Parse Evaluate Model's CSV (or TSV) output.

    :raises UsageError: when the text has no header row or no data row.
    """
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise UsageError("the evaluation output is empty", hint="check that the output is the Evaluate Model's Web Service Output")
    if delimiter is None:
        delimiter = "\t" if lines[0].count("\t") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    table = [row for row in reader]
    header = [c.strip() for c in table[0]]
    if len(table) < 2:
        raise UsageError(
            "the evaluation output has no data row",
            hint="check that the output is the Evaluate Model's Web Service Output (a header and one row per model)",
        )
    rows: list[list[Any]] = []
    for raw in table[1:]:
        row: list[Any] = []
        for cell in raw:
            num = _number(cell)
            row.append(num if num is not None else cell.strip())
        rows.append(row)
    metrics = dict(zip(header, rows[0]))
    return Evaluation(header, rows, metrics)


__all__ = ["Evaluation", "Gate", "check_gates", "parse_evaluation", "parse_gate"]
