"""``amlws history TARGET --metrics``: the metrics recorded with each deployed retrain, as a trend.

Every backend's retrain records the evaluation of the model it deploys with its history entry
(``metrics``: Studio's *Evaluate Model* numbers, a training run's logged metrics); this reads them
back, oldest first (newest last), so a drift in model quality shows at a glance. Local: sends nothing.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import NotFoundError
from ..model import Target
from .history import History

#: Eight levels, lowest to highest (U+2581..U+2588).
BARS = "▁▂▃▄▅▆▇█"


def metrics_history(target: Target, *, store: History | None = None) -> dict[str, Any]:
    """``{"target", "metrics": [names], "retrains": [{"revision", "time", "action", "note", "metrics"}],
    "trend": {name: [value or None per retrain]}}``, newest retrain last.

    :raises NotFoundError: (exit 3) no applied change of ``target`` recorded metrics.
    """
    rows = (store or History()).metrics(target.id)
    if not rows:
        raise NotFoundError(f"no retrain of {target.id} recorded metrics",
                            hint="amlws records the metrics of each deployed retrain (with an evaluation or a gate)")
    names: list[str] = []
    for row in rows:
        names.extend(n for n in row["metrics"] if n not in names)
    trend = {n: [_number(row["metrics"].get(n)) for row in rows] for n in names}
    return {"target": target.id, "metrics": names, "retrains": rows, "trend": trend}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def sparkline(values: list[float | None]) -> str:
    """One bar per value scaled between the lowest and the highest (a space for a missing value;
    all bars middle-high when every value is the same)."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif high == low:
            out.append(BARS[len(BARS) // 2])
        else:
            out.append(BARS[round((v - low) / (high - low) * (len(BARS) - 1))])
    return "".join(out)
