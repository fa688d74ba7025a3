"""Azure Resource Manager's per-subscription throttling: token buckets (ARM REFERENCE, "Understand how
Azure Resource Manager throttles requests", since 2024).

Every subscription has three buckets -- reads (GET/HEAD), writes (PUT/PATCH/POST) and deletes
(DELETE) -- each of ``capacity`` tokens refilled continuously at ``refill`` tokens per second. A
request takes one token of its kind; every answer tells what is left
(``x-ms-ratelimit-remaining-subscription-reads|writes|deletes``, the one of the request's kind, as
the recorded service does); an empty bucket answers ``429`` with ``Retry-After`` (whole seconds
until a token is back) and the ARM error ``SubscriptionRequestsThrottled``, and the throttled
request takes no token. Both providers (``Microsoft.MachineLearning`` and
``Microsoft.MachineLearningServices``) share a subscription's buckets.

Configured by the ``arm_throttling`` setting (``{"writes": {"capacity": 50, "refill": 20}}``;
kinds left out keep ARM's numbers), ``POST /_emulator/throttling`` and ``amlws emulator serve
--arm-bucket writes=50/20``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .exceptions import EmulatorHTTPError

KINDS = ("reads", "writes", "deletes")
#: ARM's buckets since 2024 (per subscription, per region of the ARM front door): capacity, refill per second.
ARM_BUCKETS: dict[str, dict[str, float]] = {"reads": {"capacity": 250, "refill": 25},
                                            "writes": {"capacity": 200, "refill": 10},
                                            "deletes": {"capacity": 200, "refill": 10}}
HEADER = "x-ms-ratelimit-remaining-subscription-{kind}"
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)


def kind_of(method: str) -> str:
    """The bucket a request draws on: reads (GET, HEAD), deletes (DELETE), writes (the rest, POST actions included)."""
    method = method.upper()
    return "reads" if method in ("GET", "HEAD") else "deletes" if method == "DELETE" else "writes"


def subscription_of(path: str) -> str:
    m = _SUBSCRIPTION.match(path)
    return m.group(1).lower() if m else ""


def validate(config: Any) -> dict[str, dict[str, float]]:
    """``config`` checked and completed with ARM's numbers for the kinds it leaves out (400 otherwise)."""
    def bad(message: str) -> EmulatorHTTPError:
        return EmulatorHTTPError(400, {"error": {"code": "InvalidThrottling", "message": message}})

    if not isinstance(config, dict):
        raise bad('arm_throttling must be an object like {"writes": {"capacity": 50, "refill": 20}}')
    out = {k: dict(v) for k, v in ARM_BUCKETS.items()}
    for kind, bucket in config.items():
        if kind not in KINDS:
            raise bad(f"unknown bucket {kind!r} (known: {', '.join(KINDS)})")
        if not isinstance(bucket, dict) or set(bucket) - {"capacity", "refill"}:
            raise bad(f"bucket {kind!r} must be an object with capacity and/or refill")
        for name, value in bucket.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (name == "capacity" and value < 1):
                raise bad(f"{kind}.{name} must be a number (capacity >= 1, refill >= 0)")
            out[kind][name] = value
    return out


@dataclass
class Taken:
    """One request's draw: its bucket, whether it may proceed, what is left, and (when throttled) the wait."""

    kind: str
    allowed: bool
    remaining: int
    retry_after: int = 0

    def headers(self) -> dict[str, str]:
        return {HEADER.format(kind=self.kind): str(self.remaining)}


class ArmBuckets:
    """The buckets of every subscription, thread-safe; ``clock`` is injectable (tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        #: (subscription, kind) -> (tokens, time of that level)
        self._levels: dict[tuple[str, str], tuple[float, float]] = {}

    def _level(self, key: tuple[str, str], bucket: dict[str, float], now: float) -> float:
        tokens, at = self._levels.get(key, (float(bucket["capacity"]), now))
        return min(float(bucket["capacity"]), tokens + max(0.0, now - at) * float(bucket["refill"]))

    def take(self, subscription: str, method: str, config: dict[str, dict[str, float]]) -> Taken:
        """Take a token for a ``method`` request on ``subscription`` (its answer is a 429 when none is left)."""
        kind = kind_of(method)
        bucket = config.get(kind) or ARM_BUCKETS[kind]
        key = (subscription.lower(), kind)
        with self._lock:
            now = self._clock()
            tokens = self._level(key, bucket, now)
            if tokens >= 1.0:
                self._levels[key] = (tokens - 1.0, now)
                return Taken(kind, True, int(tokens - 1.0))
            self._levels[key] = (tokens, now)
        refill = float(bucket["refill"])
        wait = math.ceil((1.0 - tokens) / refill) if refill > 0 else 3600
        return Taken(kind, False, 0, max(1, int(wait)))

    def levels(self, config: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        """What is left now, per subscription and kind (``GET /_emulator/throttling``)."""
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            now = self._clock()
            for (sub, kind), _ in sorted(self._levels.items()):
                out.setdefault(sub, {})[kind] = round(self._level((sub, kind), config.get(kind) or ARM_BUCKETS[kind], now), 3)
        return out

    def refill_all(self) -> None:
        """Every bucket full again (a reset, or new bucket sizes)."""
        with self._lock:
            self._levels.clear()


def throttled_body(taken: Taken, subscription: str) -> dict[str, Any]:
    """ARM's 429 body for an empty bucket (the message as ARM words it)."""
    what = {"reads": "read", "writes": "write", "deletes": "delete"}[taken.kind]
    return {"error": {"code": "SubscriptionRequestsThrottled",
                      "message": f"Number of '{what}' requests for subscription '{subscription}' exceeded. "
                                 f"Please try again after '{taken.retry_after}' seconds after additional tokens are available. "
                                 "Refer to https://aka.ms/arm-throttling for additional information."}}


def parse_bucket_option(text: str) -> tuple[str, dict[str, float]]:
    """``writes=50/20`` (capacity 50, refill 20 per second) -> ``("writes", {"capacity": 50, "refill": 20})``."""
    kind, sep, numbers = text.partition("=")
    capacity, slash, refill = numbers.partition("/")
    try:
        if not sep or not slash or kind.strip() not in KINDS:
            raise ValueError
        return kind.strip(), {"capacity": float(capacity), "refill": float(refill)}
    except ValueError:
        raise ValueError(f"invalid --arm-bucket {text!r}: give KIND=CAPACITY/REFILL, KIND one of {', '.join(KINDS)}") from None


__all__ = ["ARM_BUCKETS", "HEADER", "KINDS", "ArmBuckets", "Taken", "kind_of", "parse_bucket_option", "subscription_of",
           "throttled_body", "validate"]
