"""What the observe plugins need from the master, and what the master calls on them.

Strategy: ``observe`` must not import the master (the master imports
``observe``), so the plugins are written against :class:`MasterControl`,
which the real arbiter satisfies structurally, and the master drives them
through :class:`ObservePlugin`. Members are read-only properties so that a
subclass type (the arbiter's concrete selector class) still matches.
"""

from __future__ import annotations

import selectors
from typing import Any, Protocol

from workhorse.observe.schema import Snapshot


class MasterControl(Protocol):
    """The master as the control socket, the metrics endpoint and StatsD see it.

    Plugins register sockets in ``selector`` with a zero-argument callable as
    the key's ``data``; the master calls it when the socket is ready.
    """

    @property
    def selector(self) -> selectors.BaseSelector: ...

    @property
    def log(self) -> Any:
        """Has ``info``/``warning``/``error``/``exception`` (``workhorse.logs.Logger``)."""

    @property
    def num_workers(self) -> int:
        """The target number of workers."""

    def snapshot(self) -> Snapshot:
        """The status document right now (cheap: a copy of the scoreboard)."""

    def reload(self) -> None:
        """Re-read the configuration and replace the workers (as on HUP)."""

    def set_num_workers(self, count: int) -> None:
        """Set the target number of workers (as TTIN/TTOU do by one)."""

    def stop(self, *, graceful: bool) -> None:
        """Begin stopping: graceful as on TERM, quick as on INT/QUIT."""

    def reopen_logs(self) -> None:
        """Reopen the log files in the master and the workers (as on USR1)."""


class ObservePlugin(Protocol):
    """The master plugin interface (``workhorse.master.plugins.MasterPlugin``)."""

    def start(self, arbiter: MasterControl) -> None: ...

    def tick(self, arbiter: MasterControl, now: float) -> None: ...

    def worker_exited(self, arbiter: MasterControl, handle: object, cause: str) -> None: ...

    def fds(self) -> list[int]: ...

    def stop(self, arbiter: MasterControl) -> None: ...
