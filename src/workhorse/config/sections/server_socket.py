"""Server Socket: what the master listens on."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass

from workhorse.config import addresses as a
from workhorse.config import converters as c
from workhorse.config.registry import setting

SECTION = "Server Socket"


def bind_from_port(port: str) -> list[str]:
    """``PORT=5000`` means listening on every interface, port 5000."""
    return [f"0.0.0.0:{port.strip()}"]


@dataclass(init=False, repr=False, eq=False)
class ServerSocket:
    bind: list[str] = setting(
        ["127.0.0.1:8000"],
        section=SECTION,
        flags=("-b", "--bind"),
        action="append",
        metavar="ADDRESS",
        env="PORT",
        from_env=bind_from_port,
        convert=a.bind_list,
        default_doc="['127.0.0.1:8000'], or ['0.0.0.0:$PORT'] when PORT is set",
        help="Address to listen on; repeat the flag to listen on several.",
        details=(
            "Forms: `HOST`, `HOST:PORT`, `[IPV6]:PORT`, `unix:PATH`, `unix://PATH`,"
            " `fd://N` (an inherited descriptor). A host alone gets port 8000."
            " Example: `-b 127.0.0.1:8000 -b [::1]:8000` listens on IPv4 and IPv6"
            " loopback. Sockets passed by systemd (`LISTEN_FDS`) take precedence."
        ),
    )
    backlog: int = setting(
        2048,
        section=SECTION,
        flags=("--backlog",),
        metavar="INT",
        convert=c.non_negative_int,
        help="Length of the queue of connections waiting to be accepted.",
        details=(
            "Passed to listen(2); the kernel caps it at `net.core.somaxconn`."
            " Connections beyond it are refused or dropped by the kernel."
        ),
    )
