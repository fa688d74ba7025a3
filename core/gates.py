"""Metric gates, backend-neutral: ``METRIC OP NUMBER`` checked against any source of metrics.

A gate is ``METRIC OP NUMBER`` with ``>=``, ``<=``, ``>`` or ``<`` (``"Accuracy>=0.85"``,
``"Root Mean Squared Error<3.5"``, ``"r2>=0.8"``); metric names match case-insensitively.
A source is anything with ``get(metric) -> value`` that raises for a metric it does not have:
Studio's parsed *Evaluate Model* CSV (:class:`amlws.evaluation.Evaluation`), a training run's
logged metrics (:class:`Metrics`).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import GateFailedError, UsageError

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def norm(name: str) -> str:
    """A metric name as gates compare it: case, surrounding quotes and runs of spaces ignored."""
    return " ".join(name.strip().strip('"').split()).lower()


class MetricSource(Protocol):
    def get(self, metric: str) -> Any:
        """The value of ``metric``; raises an :class:`amlws.errors.AmlwsError` naming the metrics there are."""


@dataclass
class Metrics:
    """Metrics a training run logged (``name -> number``); a gate on one it did not log is a gate
    failure (exit 5) naming the ones it did: the model cannot be judged, so it is not deployed.

    :param values: the logged metrics.
    :param source: what logged them, for the message (``"job train-2"``).
    """

    values: dict[str, Any]
    source: str = "the run"

    def get(self, metric: str) -> Any:
        wanted = norm(metric)
        for name, value in self.values.items():
            if norm(name) == wanted:
                return value
        logged = ", ".join(sorted(self.values)) or "none"
        err = GateFailedError(f"{self.source} logged no metric {metric!r} (it logged: {logged})",
                              hint="gate on a metric the training logs, or make the training script log it")
        err.details["metrics"] = sorted(self.values)
        raise err


@dataclass(frozen=True)
class Gate:
    """``metric op threshold``, e.g. ``Accuracy >= 0.85``."""

    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"

    def check(self, metrics: MetricSource) -> dict[str, Any]:
        value = metrics.get(self.metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"metric {self.metric!r} is not a number ({value!r})", hint="gate on a numeric metric")
        passed = bool(_OPS[self.op](value, self.threshold))
        return {"gate": str(self), "metric": self.metric, "op": self.op, "threshold": self.threshold, "value": value, "passed": passed}


_GATE = re.compile(r"^\s*(?P<metric>[^<>=]+?)\s*(?P<op>>=|<=|>|<)\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


def parse_gate(text: str) -> Gate:
    """``"Accuracy>=0.85"`` -> :class:`Gate`. Operators: ``>= <= > <``."""
    m = _GATE.match(text or "")
    if not m or not m.group("metric").strip().strip('"'):
        raise UsageError(
            f"invalid gate {text!r}",
            hint='write METRIC OP NUMBER with >=, <=, > or <, e.g. --gate "Accuracy>=0.85" or --gate "Root Mean Squared Error<4"',
        )
    return Gate(m.group("metric").strip().strip('"').strip(), m.group("op"), float(m.group("value")))


def check_gates(metrics: MetricSource, gates: list[Gate]) -> list[dict[str, Any]]:
    """Check every gate; raise :class:`GateFailedError` (exit 5) naming the failing ones."""
    results = [g.check(metrics) for g in gates]
    failed = [r for r in results if not r["passed"]]
    if failed:
        what = "; ".join(f"{r['metric']} = {r['value']:g}, needs {r['op']} {r['threshold']:g}" for r in failed)
        err = GateFailedError(
            f"the new model failed the gate: {what}",
            hint="the model was not deployed; improve the training data or relax --gate",
        )
        err.details["gates"] = results
        raise err
    return results


def gate_step(metrics: MetricSource, gates: list[Gate], result: dict[str, Any]) -> None:
    """Check ``gates`` as a retrain's ``gate`` step (every backend's ``retrain`` answer has the same shape):
    ``result["steps"]["gate"]`` becomes ``{"passed", "gates"}``; on a failure ``result["status"]`` is
    ``gate_failed`` and the error (exit 5) is raised."""
    from .errors import AmlwsError

    try:
        result["steps"]["gate"] = {"passed": True, "gates": check_gates(metrics, gates)}
    except AmlwsError as exc:
        result["steps"]["gate"] = {"passed": False, "gates": exc.details.get("gates", [])}
        result["status"] = "gate_failed"
        raise


def numbers(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric metrics of a ``name -> value`` map (what history keeps of an evaluation)."""
    return {str(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
