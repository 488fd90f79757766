"""Why a worker left, and whether its leaving counts against the next boot.

Strategy: when the master reaps a worker it knows four things: whether its
watchdog ended the worker (and why), whether the master itself asked it to
stop (and why), what the worker wrote in its slot before leaving, and its
exit status. :func:`restart_cause` turns them into the one cause the status,
the metrics and the logs report (or None for a worker that simply stopped
with the server); :func:`failed_boot` says whether the boot backoff must
count it. Both are pure, so every combination is tested in milliseconds.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass

from workhorse.master.backoff import YOUNG_SECONDS
from workhorse.scoreboard import ExitReason, RestartCause
from workhorse.workers.base import APP_LOAD_ERROR, WORKER_BOOT_ERROR


class StopReason(str, enum.Enum):
    """Why the master asked a worker to stop."""

    RELOAD = "reload"  # HUP: a newer generation replaces it
    SCALE_DOWN = "scale_down"  # TTOU, or a lower target
    MEMORY = "memory"  # over max_worker_memory
    SHUTDOWN = "shutdown"  # the whole server stops


_STOP_CAUSES = {StopReason.RELOAD: RestartCause.RELOAD,
                StopReason.SCALE_DOWN: RestartCause.SCALE_DOWN,
                StopReason.MEMORY: RestartCause.MEMORY,
                StopReason.SHUTDOWN: None}


@dataclass(frozen=True)
class Departure:
    """What the master knows about a worker it has just reaped."""

    #: ``os.waitstatus_to_exitcode``: the exit code, or minus the killing signal.
    exit_code: int
    #: The watchdog ended it: TIMEOUT, BOOT_TIMEOUT or FROZEN.
    ended_by: RestartCause | None
    #: The master asked it to stop.
    stop_reason: StopReason | None
    #: What the worker wrote in its slot before leaving (UNKNOWN if it could not).
    said: ExitReason
    #: It never became ready.
    booting: bool
    #: Seconds between becoming ready and leaving (0 when it never was).
    served_for: float


def restart_cause(gone: Departure) -> RestartCause | None:
    """The cause reported for this departure; None when nothing was replaced."""
    if gone.ended_by is not None:
        return gone.ended_by
    if gone.exit_code in (WORKER_BOOT_ERROR, APP_LOAD_ERROR):
        return RestartCause.BOOT_FAILURE
    if gone.stop_reason is not None:
        return _STOP_CAUSES[gone.stop_reason]
    if gone.said == ExitReason.MAX_REQUESTS:
        return RestartCause.MAX_REQUESTS
    if gone.said == ExitReason.PARENT_GONE or (gone.exit_code == 0
                                               and gone.said == ExitReason.SHUTDOWN):
        return None
    if gone.exit_code == -signal.SIGKILL:
        return RestartCause.KILLED
    return RestartCause.CRASH


def failed_boot(gone: Departure, cause: RestartCause | None) -> bool:
    """Whether the boot backoff counts this departure as a failed boot."""
    if cause in (RestartCause.BOOT_FAILURE, RestartCause.BOOT_TIMEOUT):
        return True
    return cause == RestartCause.CRASH and (gone.booting or gone.served_for < YOUNG_SECONDS)
