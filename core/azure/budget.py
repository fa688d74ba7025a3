"""Pacing ARM calls by the subscription's remaining budget, as the service reports it.

Azure Resource Manager throttles every subscription with token buckets (reads: 250, refilled 25 per
second; writes: 200, refilled 10 per second; deletes: 200, refilled 10 per second -- since 2024) and
says what is left on every answer (``x-ms-ratelimit-remaining-subscription-reads|writes|deletes``,
the one of the request's kind). An empty bucket answers 429 with ``Retry-After``.

:class:`ArmBudget` is what one process knows of each (ARM host, subscription, kind) bucket:

- the *level*: the last remaining count an answer reported, re-anchored on every answer, so that
  what other processes (fleet shards, other tools) spend shows up at the next answer;
- the *refill rate*: ARM's documented rate until answers at least :data:`REFILL_WINDOW` seconds
  apart give an estimate (``(later level - earlier level + what this process sent between) /
  seconds``) -- what others spend lowers it, which is the rate left to this process;
- the *capacity*: the highest remaining count seen + 1 (ARM's documented bucket before any answer).

Before a request, :meth:`ArmBudget.acquire` predicts the level now (last level + refill since,
less what this process sent since that answer's request, capped at the capacity) and lets the
request go only if one token is left above the *reserve*: ``ceil(capacity x (100 - share) / 100)``
tokens that ``fleet run --arm-budget SHARE`` leaves to other tools. Otherwise the worker waits
for the refill (waking at every new answer). Each permitted request is counted at once, so the
workers of one process never together spend more than the prediction allows. Before the first
answer of a kind one request goes alone (a probe), to learn the level. A 429 pauses every worker of
the process on that bucket until its ``Retry-After`` has passed (the whole fleet slows, not the
one worker), and halves the refill rate this process counts on until answers show more. Without pacing (``--no-pacing``, and outside ``fleet run``) nothing waits: answers
are only counted.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: ARM's buckets (capacity, refill per second): the assumptions before any answer.
DEFAULT_BUCKETS: dict[str, tuple[float, float]] = {"reads": (250.0, 25.0), "writes": (200.0, 10.0), "deletes": (200.0, 10.0)}
HEADER = "x-ms-ratelimit-remaining-subscription-{kind}"
#: Default share of a subscription's budget a fleet may use (``fleet run --arm-budget``).
DEFAULT_SHARE_PERCENT = 80
#: Two answers at least this far apart estimate the refill rate.
REFILL_WINDOW = 0.5
#: The longest single wait before the prediction is made again.
MAX_WAIT = 1.0
#: How long a first request of a kind (the probe) is waited for before another one goes.
PROBE_TIMEOUT = 2.0
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?#]+)", re.IGNORECASE)


def kind_of(method: str) -> str:
    """The bucket a request draws on: reads (GET, HEAD), deletes (DELETE), writes (the rest, POST actions included)."""
    method = method.upper()
    return "reads" if method in ("GET", "HEAD") else "deletes" if method == "DELETE" else "writes"


def bucket_key(url: str) -> str | None:
    """``host/subscription`` of an ARM URL (``None``: not a subscription's call, nothing to pace)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    m = _SUBSCRIPTION.search(parts.path)
    return f"{parts.netloc.lower()}/{m.group(1).lower()}" if m else None


@dataclass
class Bucket:
    """One (host/subscription, kind) bucket as this process sees it."""

    kind: str
    capacity: float
    refill: float
    level: float | None = None  # remaining at the last answer (None: no answer yet)
    at: float = 0.0  # when that answer came
    base: int = 0  # this process's sends of this kind up to and including that answer's request
    sent: int = 0  # this process's sends of this kind
    probe_at: float | None = None  # when the probe (first request, no level yet) was sent
    paused_until: float = 0.0  # a 429's Retry-After
    learnt_capacity: float = 0.0
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (at, level, base) for the refill estimate
    refill_estimated: bool = False

    def predicted(self, now: float) -> float:
        """The level now: last answer, less what this process sent since, + refill since, capped."""
        if self.level is None:
            return self.capacity - self.sent
        # as if this process's sends since came right after that answer: the refill since is not lost to the cap
        return min(self.capacity, self.level - (self.sent - self.base) + self.refill * max(0.0, now - self.at))


@dataclass
class Stats:
    """What pacing cost (the fleet summary's ``throttling``)."""

    requests: int = 0
    wait_seconds: float = 0.0
    waits: int = 0
    throttled: int = 0  # 429 answers seen


class ArmBudget:
    """Per-subscription ARM budgets of one process, shared by every client and worker thread.

    :param share: percent of each bucket this process may drain (the rest is left to others).
    :param pacing: wait for the budget before sending (``False``: only count).
    :param clock: monotonic clock (tests inject one).
    :param notice: called once, the first time a worker waits (default: a line on stderr).
    :param stop: an event that ends every wait (the fleet is stopping).
    :param sleep: how a worker waits (tests: advance an injected clock); default: on a condition
        that every answer wakes.
    """

    def __init__(self, *, share: float = DEFAULT_SHARE_PERCENT, pacing: bool = True, clock: Callable[[], float] = time.monotonic,
                 notice: Callable[[str], None] | None = None, stop: threading.Event | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        if not 0 < share <= 100:
            raise ValueError("share must be a percentage in (0, 100]")
        self.share = float(share)
        self.pacing = pacing
        self.clock = clock
        self.stop = stop
        self._notice = notice
        self._sleep = sleep
        self._noticed = False
        self._cond = threading.Condition()
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self.stats = Stats()
        self._local = threading.local()

    # -- the model ---------------------------------------------------------------------------------
    def bucket(self, key: str, kind: str) -> Bucket:
        b = self._buckets.get((key, kind))
        if b is None:
            capacity, refill = DEFAULT_BUCKETS[kind]
            b = self._buckets[(key, kind)] = Bucket(kind, capacity, refill)
        return b

    def reserve(self, b: Bucket) -> float:
        """Tokens left to other tools: ``ceil(capacity x (100 - share) / 100)``."""
        return math.ceil(b.capacity * (100.0 - self.share) / 100.0 - 1e-9)

    def decide(self, key: str, kind: str, now: float | None = None) -> float:
        """Seconds to wait before a ``kind`` request on ``key`` (0: send now, and it is counted as sent)."""
        now = self.clock() if now is None else now
        with self._cond:
            b = self.bucket(key, kind)
            wait = self._wait_for(b, now)
            if wait <= 0:
                self._grant(b, now)
            return wait

    @staticmethod
    def _grant(b: Bucket, now: float) -> int:
        b.sent += 1
        if b.level is None and b.probe_at is None:
            b.probe_at = now
        return b.sent

    def _wait_for(self, b: Bucket, now: float) -> float:
        if not self.pacing:
            return 0.0
        if now < b.paused_until:
            return b.paused_until - now
        if b.level is None:
            # no answer yet: one request learns the level; the others wait for it (not for ever)
            if b.probe_at is not None and now - b.probe_at < PROBE_TIMEOUT:
                return min(MAX_WAIT, PROBE_TIMEOUT - (now - b.probe_at))
            return 0.0
        deficit = self.reserve(b) + 1.0 - b.predicted(now)
        if deficit <= 1e-9:
            return 0.0
        return min(MAX_WAIT, deficit / max(b.refill, 0.1))

    def observe(self, key: str, kind: str, seq: int, remaining: str | None, status: int, retry_after: float | None = None,
                now: float | None = None) -> None:
        """An answer to the ``seq``-th ``kind`` request (``seq`` from :meth:`decide`'s count): its
        remaining-budget header, its status and (on a 429) its ``Retry-After`` seconds."""
        now = self.clock() if now is None else now
        try:
            level = float(int(remaining)) if remaining is not None else None
        except ValueError:
            level = None
        with self._cond:
            b = self.bucket(key, kind)
            if status == 429:
                self.stats.throttled += 1
                self._thread_stats()[1] += 1
                b.paused_until = max(b.paused_until, now + (retry_after if retry_after is not None else 1.0))
                # others spend more than the estimate left for this process: halve it (the estimate climbs back)
                b.refill = max(0.1, b.refill / 2)
                if level is None:
                    level = 0.0
            if level is not None and (b.level is None or seq >= b.base):
                b.learnt_capacity = max(b.learnt_capacity, level + 1)
                b.capacity = b.learnt_capacity
                self._estimate_refill(b, now, level, seq)
                b.level, b.at, b.base = level, now, seq
            self._cond.notify_all()

    def _estimate_refill(self, b: Bucket, now: float, level: float, seq: int) -> None:
        """(level change + this process's sends between) / seconds, over answers at least
        :data:`REFILL_WINDOW` apart, neither at the capacity (a full bucket wastes its refill)."""
        full = b.capacity - 1
        b.samples = [s for s in b.samples if now - s[0] <= 10 * REFILL_WINDOW]
        if level < full:
            older = [s for s in b.samples if now - s[0] >= REFILL_WINDOW and s[1] < full]
            if older:
                t0, l0, base0 = older[-1]
                rate = (level - l0 + (seq - base0)) / (now - t0)
                if rate > 0:
                    b.refill = rate if not b.refill_estimated else 0.5 * b.refill + 0.5 * rate
                    b.refill_estimated = True
            if not b.samples or now - b.samples[-1][0] >= REFILL_WINDOW / 4:
                b.samples.append((now, level, seq))

    # -- the workers' side -------------------------------------------------------------------------
    def acquire(self, key: str, kind: str) -> int:
        """Wait until a ``kind`` request on ``key`` may go; returns its sequence number (for :meth:`observe`)."""
        waited = 0.0
        with self._cond:
            self.stats.requests += 1
            while True:
                now = self.clock()
                b = self.bucket(key, kind)
                wait = self._wait_for(b, now)
                if wait <= 0 or (self.stop is not None and self.stop.is_set()):
                    seq = self._grant(b, now)
                    break
                if not self._noticed and b.level is not None:  # a real shortage, not the first answer awaited
                    self._noticed = True
                    self._say(b, key)
                if self._sleep is not None:
                    self._sleep(wait)
                else:
                    self._cond.wait(wait)
                waited += self.clock() - now
            if waited:
                self.stats.wait_seconds += waited
                self.stats.waits += 1
                self._thread_stats()[0] += waited
        return seq

    def _say(self, b: Bucket, key: str) -> None:
        subscription = key.split("/", 1)[-1]
        message = (f"amlws: the ARM {b.kind} budget of subscription {subscription} is low: waiting for its refill "
                   f"(this run uses up to {self.share:g}% of it; fleet run --arm-budget)")
        if self._notice is not None:
            self._notice(message)
        else:
            from ..output import info

            info(message)

    def _thread_stats(self) -> list[float]:
        stats = getattr(self._local, "stats", None)
        if stats is None:
            stats = self._local.stats = [0.0, 0]
        return stats

    def take_thread_stats(self) -> tuple[float, int]:
        """Seconds this thread waited for budget and 429s it got since the last call (a fleet row's own)."""
        stats = self._thread_stats()
        out = (stats[0], int(stats[1]))
        stats[0], stats[1] = 0.0, 0
        return out

    def summary(self) -> dict[str, Any]:
        return {"pacing": self.pacing, "armBudgetPercent": self.share, "requests": self.stats.requests,
                "waitSeconds": round(self.stats.wait_seconds, 3), "waits": self.stats.waits, "throttled": self.stats.throttled}


_default: ArmBudget | None = None
_default_lock = threading.Lock()


def budget_for(settings: Any) -> ArmBudget:
    """The budget of ``settings`` (``fleet run`` sets ``settings.arm_budget``), else the process's
    counting-only one."""
    budget = getattr(settings, "arm_budget", None) if settings is not None else None
    if isinstance(budget, ArmBudget):
        return budget
    global _default
    with _default_lock:
        if _default is None:
            _default = ArmBudget(share=100, pacing=False)
        return _default


__all__ = ["DEFAULT_BUCKETS", "DEFAULT_SHARE_PERCENT", "HEADER", "ArmBudget", "Bucket", "Stats", "bucket_key", "budget_for",
           "kind_of"]
