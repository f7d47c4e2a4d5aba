"""The per-target-registry rate limit of queue mode, shared by every worker (in Redis).

``queue.rate_limits: {<target registry name>: <copies per second>}`` (and
``queue.default_rate_limit`` for the others; 0 or absent: no limit) bounds how
many copy tasks all workers together *start* against one target registry per
second. One Redis key per registry holds the next free start time (a GCRA
bucket of one): :meth:`RateLimiter.reserve` takes the next slot atomically (a Lua
script using Redis' clock, so workers' clocks do not matter) when it is at most
``max_wait`` seconds away (the worker sleeps until then), else answers how long
to wait, and the task is retried then without taking a slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis

__all__ = ["RateLimiter"]

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return {0, tostring(wait)} end
local nxt = tat + interval
redis.call('SET', KEYS[1], tostring(nxt), 'PX', math.ceil((nxt - now) * 1000) + 1000)
return {1, tostring(wait)}
"""


class RateLimiter:
    """Copies per second per target registry, over all workers."""

    def __init__(
        self,
        url: str,
        rates: Mapping[str, float],
        default: float = 0.0,
        prefix: str = "freightliner:rate:",
    ) -> None:
        self.rates = dict(rates)
        self.default = default
        self.prefix = prefix
        self._redis: Any = redis.Redis.from_url(url) if self.limited else None
        self._script: Any = self._redis.register_script(_RESERVE) if self._redis else None

    @property
    def limited(self) -> bool:
        return self.default > 0 or any(v > 0 for v in self.rates.values())

    def rate(self, registry: str) -> float:
        return self.rates.get(registry, self.default)

    def reserve(self, registry: str, max_wait: float = 2.0) -> tuple[bool, float]:
        """``(True, wait)``: start in ``wait`` s (slot taken); ``(False, wait)``: come back
        in ``wait`` s. Unlimited registries answer ``(True, 0.0)``."""
        rate = self.rate(registry)
        if rate <= 0 or self._script is None:
            return True, 0.0
        taken, wait = self._script(keys=[self.prefix + registry], args=[1.0 / rate, max_wait])
        return bool(int(taken)), float(wait)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
