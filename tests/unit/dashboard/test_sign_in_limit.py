"""The sign-in limit per client address with several dashboard replicas: counted once in the
Redis they share, so N replicas do not allow N times the attempts; without Redis, per process."""

from __future__ import annotations

import uuid

import redis

from dashboard.limits import PER_ADDRESS, SignInLimit
from tests.integration.conftest import REDIS, free_port, require

DB = 14  # a Redis database of its own, emptied here


def test_two_replicas_share_one_count_in_redis() -> None:
    require(REDIS, "Redis")
    url = f"redis://{REDIS[0]}:{REDIS[1]}/{DB}"
    redis.Redis(host=REDIS[0], port=REDIS[1], db=DB).flushdb()
    first, second = SignInLimit("key", url), SignInLimit("key", url)
    address = f"198.51.100.{uuid.uuid4().int % 250}"
    allowed = [(first if n % 2 else second).hit(address) for n in range(PER_ADDRESS.amount + 1)]
    assert allowed == [True] * PER_ADDRESS.amount + [False]
    assert not first.hit(address) and not second.hit(address)
    assert first.hit("203.0.113.9")  # another address has its own count
    # Redis holds a keyed hash of the address, never the address
    stored = b" ".join(redis.Redis(host=REDIS[0], port=REDIS[1], db=DB).keys("*"))
    assert stored and address.encode() not in stored


def test_without_redis_each_process_counts_and_a_redis_down_does_not_open_the_door() -> None:
    alone = SignInLimit("key")
    assert all(alone.hit("192.0.2.1") for _ in range(PER_ADDRESS.amount))
    assert not alone.hit("192.0.2.1")
    down = SignInLimit("key", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    assert all(down.hit("192.0.2.1") for _ in range(PER_ADDRESS.amount))
    assert not down.hit("192.0.2.1")  # counted in the process meanwhile
