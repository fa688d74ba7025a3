"""The pacing decision of :mod:`amlws.azure.budget` from ARM's remaining-budget headers, on an
injected clock (no sleeps): when a worker may send, how long it waits, what it learns."""

from __future__ import annotations

import pytest

from amlws.azure.budget import ArmBudget, bucket_key, kind_of

KEY = "management.azure.com/00000000-0000-4000-8000-000000000001"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def budget(share: float = 80, pacing: bool = True) -> tuple[ArmBudget, Clock, list[str]]:
    clock, said = Clock(), []
    return ArmBudget(share=share, pacing=pacing, clock=clock, notice=said.append, sleep=clock.sleep), clock, said


def test_kinds_and_keys_follow_arm():
    assert [kind_of(m) for m in ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE")] == \
        ["reads", "reads", "writes", "writes", "writes", "deletes"]
    assert bucket_key("https://Management.Azure.com/subscriptions/ABC/resourceGroups/rg?api-version=1") == "management.azure.com/abc"
    assert bucket_key("https://management.azure.com/providers/Microsoft.MachineLearning/operations") is None


def test_one_probe_learns_the_level_before_the_others_send():
    b, clock, _ = budget()
    assert b.decide(KEY, "writes") == 0  # the probe
    assert b.decide(KEY, "writes") > 0  # the others wait for its answer
    b.observe(KEY, "writes", 1, "49", 200)
    assert b.decide(KEY, "writes") == 0


def test_the_reserve_is_what_the_share_leaves_of_the_learnt_capacity():
    b, clock, _ = budget(share=80)
    assert b.decide(KEY, "writes") == 0
    b.observe(KEY, "writes", 1, "49", 200)  # capacity learnt: 50; reserve: 10 tokens
    bucket = b.bucket(KEY, "writes")
    assert bucket.capacity == 50 and b.reserve(bucket) == 10
    granted = 0
    while granted < 1000 and b.decide(KEY, "writes") == 0:  # bounded: a budget that never says wait fails, not hangs
        granted += 1
    assert granted == 39  # 49 left, 10 kept for others: the workers together never spend more
    # the refill is ARM's documented 10 per second until measured: one token above the reserve in 0.1 s
    assert b.decide(KEY, "writes") == pytest.approx(0.1)
    clock.now += 0.1
    assert b.decide(KEY, "writes") == 0


def test_a_full_share_drains_to_the_last_token_only():
    b, clock, _ = budget(share=100)
    b.decide(KEY, "writes")
    b.observe(KEY, "writes", 1, "3", 200)
    assert [b.decide(KEY, "writes") for _ in range(4)][:3] == [0, 0, 0]
    assert b.decide(KEY, "writes") > 0


def test_what_others_spend_shows_in_the_next_answer():
    """Another shard on the subscription: the header falls faster than this process spends."""
    b, clock, _ = budget(share=80)
    b.decide(KEY, "writes")
    b.observe(KEY, "writes", 1, "49", 200)
    for _ in range(5):
        assert b.decide(KEY, "writes") == 0
    # our 6th request's answer says 11 left: others took 32 meanwhile; we may take 1 more (to the reserve of 10)
    b.observe(KEY, "writes", 6, "11", 200)
    assert b.decide(KEY, "writes") == 0
    assert b.decide(KEY, "writes") > 0


def test_the_refill_rate_is_estimated_from_the_headers_over_time():
    b, clock, _ = budget(share=80)
    b.decide(KEY, "writes")
    b.observe(KEY, "writes", 1, "49", 200)  # a full bucket of 50
    for _ in range(28):
        assert b.decide(KEY, "writes") == 0
    seq = 29
    b.observe(KEY, "writes", seq, "20", 200)
    for i in range(8):  # every 0.25 s this process sends 4 and the level rises by 1: 5 refilled, 20 per second
        clock.now += 0.25
        for _ in range(4):
            assert b.decide(KEY, "writes") == 0
            seq += 1
        b.observe(KEY, "writes", seq, str(21 + i), 200)
    assert b.bucket(KEY, "writes").refill == pytest.approx(20, rel=0.05)


def test_a_429_pauses_every_worker_until_retry_after():
    b, clock, _ = budget()
    b.decide(KEY, "writes")
    b.observe(KEY, "writes", 1, "20", 200)
    b.observe(KEY, "writes", 1, "0", 429, retry_after=2.0)
    assert b.decide(KEY, "writes") == pytest.approx(2.0)
    assert b.decide(KEY, "reads") == 0  # another bucket is not paused
    clock.now += 2.0
    assert b.stats.throttled == 1


def test_acquire_waits_says_so_once_and_counts_the_row_s_wait():
    b, clock, said = budget(share=80)
    b.acquire(KEY, "writes")
    b.observe(KEY, "writes", 1, "11", 200)  # capacity 12 learnt; reserve ceil(2.4) = 3
    for _ in range(8):
        b.acquire(KEY, "writes")  # 11 -> 3 left
    start = clock.now
    b.acquire(KEY, "writes")  # waits for one token (0.1 s at 10 per second)
    b.acquire(KEY, "writes")
    assert clock.now - start == pytest.approx(0.2)
    assert len(said) == 1 and "ARM writes budget" in said[0] and "80%" in said[0]
    waited, throttled = b.take_thread_stats()
    assert waited == pytest.approx(0.2) and throttled == 0
    assert b.take_thread_stats() == (0.0, 0)
    assert b.summary()["waits"] == 2 and b.summary()["requests"] == 11


def test_without_pacing_nothing_waits_but_429s_are_counted():
    b, clock, said = budget(pacing=False)
    for _ in range(300):
        assert b.decide(KEY, "writes") == 0
    b.observe(KEY, "writes", 300, "0", 429, retry_after=5.0)
    assert b.decide(KEY, "writes") == 0
    assert b.stats.throttled == 1 and not said


def test_the_share_is_a_percentage():
    with pytest.raises(ValueError):
        ArmBudget(share=0)
    with pytest.raises(ValueError):
        ArmBudget(share=101)
