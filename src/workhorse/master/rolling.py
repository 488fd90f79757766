"""Which workers to start and which to stop, so the worker set meets its target.

Strategy: the master reconciles every loop iteration. Workers of the
current generation that are not on their way out count toward the target:
missing ones are started (the boot backoff may hold them back), surplus
ones stopped, booting ones first, then the oldest (as Gunicorn's TTOU
does). Workers of an older generation (HUP) are stopped only as current
ones become ready: one old worker stays for every current worker still
booting, oldest stopped first, so a reload never lowers capacity and a
deploy that cannot boot leaves the old generation serving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workhorse.master.exits import StopReason


@dataclass(frozen=True)
class WorkerView:
    """What reconciling needs to know about one worker."""

    pid: int
    generation: int
    age: int  # spawn order: higher is younger
    booting: bool
    stopping: bool


@dataclass(frozen=True)
class Plan:
    stop: list[tuple[int, StopReason]]
    #: Workers to start (before the boot backoff has its say), and how many boot now.
    missing: int
    booting: int


def reconcile(workers: Sequence[WorkerView], *, generation: int, target: int) -> Plan:
    current = [w for w in workers if w.generation == generation and not w.stopping]
    ready_current = sum(1 for w in current if not w.booting)
    outdated = sorted((w for w in workers if w.generation != generation and not w.stopping),
                      key=lambda w: w.age)
    keep_old = max(0, target - ready_current)
    stop = [(w.pid, StopReason.RELOAD) for w in outdated[: max(0, len(outdated) - keep_old)]]
    surplus = len(current) - target
    if surplus > 0:
        by_cost = sorted(current, key=lambda w: (not w.booting, w.age))
        stop += [(w.pid, StopReason.SCALE_DOWN) for w in by_cost[:surplus]]
    return Plan(stop=stop, missing=max(0, target - len(current)),
                booting=sum(1 for w in current if w.booting))
