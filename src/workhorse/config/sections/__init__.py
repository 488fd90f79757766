"""One dataclass per section of settings, in the order the docs show them.

Strategy: each module declares one section (two for the dirty arbiters) with
:func:`workhorse.config.registry.setting`; :class:`workhorse.config.Config`
inherits them all. ``SECTIONS`` fixes the order of ``--help`` and the docs.
"""

from __future__ import annotations

from workhorse.config.sections.config_file import ConfigFile
from workhorse.config.sections.control import Control
from workhorse.config.sections.debugging import Debugging
from workhorse.config.sections.dirty import DirtyArbiterHooks, DirtyArbiters
from workhorse.config.sections.http2 import HTTP2
from workhorse.config.sections.logs import Logging
from workhorse.config.sections.process_naming import ProcessNaming
from workhorse.config.sections.security import Security
from workhorse.config.sections.server_hooks import ServerHooks
from workhorse.config.sections.server_mechanics import ServerMechanics
from workhorse.config.sections.server_socket import ServerSocket
from workhorse.config.sections.tls import SSL
from workhorse.config.sections.worker_processes import WorkerProcesses

SECTIONS: tuple[type, ...] = (
    ConfigFile,
    ServerSocket,
    WorkerProcesses,
    Security,
    ServerMechanics,
    Logging,
    ProcessNaming,
    SSL,
    ServerHooks,
    Control,
    Debugging,
    HTTP2,
    DirtyArbiters,
    DirtyArbiterHooks,
)

__all__ = [
    "HTTP2",
    "SECTIONS",
    "SSL",
    "ConfigFile",
    "Control",
    "Debugging",
    "DirtyArbiterHooks",
    "DirtyArbiters",
    "Logging",
    "ProcessNaming",
    "Security",
    "ServerHooks",
    "ServerMechanics",
    "ServerSocket",
    "WorkerProcesses",
]
