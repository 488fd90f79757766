"""When to spawn the next worker after boots fail: capped exponential backoff.

Strategy: a worker that fails to boot, or dies young (within
:data:`YOUNG_SECONDS` of becoming ready), is a *boot failure*. After ``n``
consecutive failures the next spawn waits ``min(cap, BASE * 2**(n-1))``
seconds, and while failures persist only one worker boots at a time (a
probe): a broken deploy costs one process every few seconds, not a storm,
and the workers that are healthy keep serving. The first worker that stays
up for :data:`YOUNG_SECONDS` resets the count.
"""

from __future__ import annotations

from dataclasses import dataclass

#: First delay after a failure, in seconds.
BASE_DELAY = 1.0
#: A worker that dies sooner than this after booting counts as a failed boot.
YOUNG_SECONDS = 5.0


@dataclass
class BootBackoff:
    cap: float
    failures: int = 0
    next_spawn_at: float = 0.0

    def failed(self, now: float) -> float:
        """Record a failed boot; returns the delay before the next attempt."""
        self.failures += 1
        delay = float(min(self.cap, BASE_DELAY * 2.0 ** (self.failures - 1)))
        self.next_spawn_at = now + delay
        return delay

    def healthy(self) -> None:
        self.failures = 0
        self.next_spawn_at = 0.0

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def may_spawn(self, now: float, booting: int) -> bool:
        """Whether a worker may be spawned now, given how many are still booting."""
        if not self.failing:
            return True
        return now >= self.next_spawn_at and booting == 0
