"""The combined configuration: every section in one plain dataclass.

Strategy: :class:`Config` inherits the section dataclasses, so ``cfg.workers``
is a typed attribute and nothing else holds settings. It is mutable (the
loader fills it layer by layer) and knows nothing about where values came
from; that is :class:`workhorse.config.loader.LoadedConfig`'s job. The few
properties here derive values the server needs from several settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from workhorse.config import paste, worker_classes
from workhorse.config.addresses import Address, TcpAddress, UnixAddress, parse_address
from workhorse.config.registry import SettingInfo, iter_settings
from workhorse.config.sections import (
    HTTP2,
    SECTIONS,
    SSL,
    ConfigFile,
    Control,
    Debugging,
    DirtyArbiterHooks,
    DirtyArbiters,
    Logging,
    ProcessNaming,
    Security,
    ServerHooks,
    ServerMechanics,
    ServerSocket,
    WorkerProcesses,
)


# Bases are listed last-section-first: dataclasses collects fields from the
# end of the MRO, so this makes the field order follow SECTIONS.
@dataclasses.dataclass
class Config(
    DirtyArbiterHooks,
    DirtyArbiters,
    HTTP2,
    Debugging,
    Control,
    ServerHooks,
    SSL,
    ProcessNaming,
    Logging,
    ServerMechanics,
    Security,
    WorkerProcesses,
    ServerSocket,
    ConfigFile,
):
    """Every setting of workhorse, with its typed value."""

    @property
    def worker_class_name(self) -> str:
        """The worker kind: "sync", "gthread" or "asgi" (see config/worker_classes.py)."""
        return worker_classes.kind_of(self.worker_class, self.threads)

    @property
    def proc_name_or_default(self) -> str:
        return self.proc_name or self.default_proc_name

    @property
    def is_ssl(self) -> bool:
        return bool(self.certfile or self.keyfile)

    @property
    def env_vars(self) -> dict[str, str]:
        """``raw_env`` (``KEY=VALUE`` strings, already validated) as a dict."""
        pairs = (item.partition("=") for item in self.raw_env)
        return {key: value for key, _, value in pairs}

    # Gunicorn's Config also has these derived values; hooks read them from
    # ``server.cfg`` and ``worker.cfg``.

    @property
    def uid(self) -> int:
        return self.user

    @property
    def gid(self) -> int:
        return self.group

    @property
    def env(self) -> dict[str, str]:
        return self.env_vars

    @property
    def worker_class_str(self) -> str:
        return self.worker_class

    @property
    def address(self) -> list[tuple[str, int] | str | int]:
        """``bind`` parsed as Gunicorn gives it: (host, port), a UNIX path, or an fd number."""
        return [_gunicorn_address(parse_address(text)) for text in self.bind]

    @property
    def paste_global_conf(self) -> dict[str, str]:
        """``raw_paste_global_conf`` (validated) as PasteDeploy's ``global_conf``."""
        return paste.global_conf(self.raw_paste_global_conf)

    @property
    def ssl_options(self) -> dict[str, Any]:
        """The SSL section's settings by name."""
        return {info.name: getattr(self, info.name) for info in iter_settings(SSL)}


def _gunicorn_address(address: Address) -> tuple[str, int] | str | int:
    if isinstance(address, TcpAddress):
        return (address.host, address.port)
    if isinstance(address, UnixAddress):
        return address.path
    return address.fd


def all_settings() -> Iterator[SettingInfo]:
    """Every setting of :class:`Config`, section by section."""
    for section in SECTIONS:
        yield from iter_settings(section)


def _shown(value: Any) -> str:
    if callable(value):
        return f"<{getattr(value, '__qualname__', type(value).__name__)}()>"
    return str(value)


def print_config(config: Config) -> str:
    """Gunicorn's ``--print-config`` text: ``name = value``, sorted, names padded."""
    names = sorted(info.name for info in iter_settings(Config))
    width = max(len(name) for name in names)
    return "\n".join(f"{name:{width}} = {_shown(getattr(config, name))}" for name in names)
