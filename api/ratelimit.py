"""Token buckets per client IP for the unauthenticated endpoints (web-form lead capture, password sign-in).

`TokenBucket` keeps its state in this process: N API processes allow N times the rate and a restart forgets it.
`SharedTokenBucket` keeps it in Redis (the broker, redis-py), one atomic Lua script per request using Redis's own
clock, so every API process and host enforces one limit. It is used when `rate_limit_shared` is on (the
docker-compose deployment turns it on; a single `salesagents api` process does not need it). If Redis cannot be
reached the request is not refused for it: the process's own bucket takes over for `SHARED_RETRY_S` seconds, so
an outage of the broker degrades the limit to per-process instead of failing sign-in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

MAX_TRACKED = 10_000
SHARED_RETRY_S = 5.0  # after a Redis failure, use the local bucket this long before trying Redis again
SHARED_TIMEOUT_S = 0.25  # a sign-in never waits longer than this on the limiter

log = logging.getLogger(__name__)

# KEYS[1]: the bucket; ARGV: rate per second, burst. Returns the wait in seconds as a string (0 when allowed).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or burst
local updated = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class Limiter(Protocol):
    rate: float
    burst: int

    def take(self, key: str) -> float: ...


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """`rate` tokens per second refill up to `burst`; each request takes one or is refused with a wait time."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate_per_s, burst, clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0.0 when allowed; otherwise the seconds until a token is free."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= MAX_TRACKED:
                    self._forget_full(now)
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: they carry no information."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= MAX_TRACKED:
            self._buckets.clear()


class SharedTokenBucket:
    """The same contract as TokenBucket with the buckets in Redis under `<prefix>ratelimit:<name>:<key>`; a key
    expires once it would have refilled, so idle clients cost nothing."""

    def __init__(self, url: str, name: str, rate_per_s: float, burst: int, *, prefix: str = "",
                 fallback: TokenBucket | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.name, self.clock = rate_per_s, burst, name, clock
        self.prefix = f"{prefix}salesagents:ratelimit:{name}:"
        self.fallback = fallback or TokenBucket(rate_per_s, burst, clock)
        self._client = redis.Redis.from_url(url, socket_connect_timeout=SHARED_TIMEOUT_S,
                                            socket_timeout=SHARED_TIMEOUT_S)
        self._script = self._client.register_script(_TAKE)
        self._local_until = 0.0

    def take(self, key: str) -> float:
        if self.clock() < self._local_until:
            return self.fallback.take(key)
        try:
            return float(self._script(keys=[self.prefix + key], args=[self.rate, self.burst]))
        except redis.RedisError as exc:
            log.warning("rate limit %s: Redis unreachable (%s); this process limits alone for %.0f s", self.name,
                        exc, SHARED_RETRY_S)
            self._local_until = self.clock() + SHARED_RETRY_S
            return self.fallback.take(key)

    def close(self) -> None:
        self._client.close()


def limiter(settings_url: str, name: str, rate_per_s: float, burst: int, *, shared: bool,
            prefix: str = "") -> Limiter:
    """The app's limiter for one endpoint: shared through Redis when configured, else this process's own."""
    if shared:
        return SharedTokenBucket(settings_url, name, rate_per_s, burst, prefix=prefix)
    return TokenBucket(rate_per_s, burst)
