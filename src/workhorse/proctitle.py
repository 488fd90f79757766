"""Process titles: what ``ps``, ``top`` and ``pgrep`` show for the master and its workers.

Strategy: as Gunicorn does when the optional ``setproctitle`` package is
installed, the whole command line becomes ``workhorse: master [NAME]`` or
``workhorse: worker [NAME]`` (Gunicorn writes ``gunicorn:``; the rest is the
same, NAME being ``proc_name`` or the application). Without the package the
command line is left as it is. Either way the kernel's short name (``comm``,
15 bytes, what ``top`` and ``pgrep`` without ``-f`` match) becomes
``workhorse-m NAME`` / ``workhorse-w NAME``, which needs nothing installed.
"""

from __future__ import annotations

from typing import Any

PREFIX = "workhorse"
_SHORT = {"master": "m", "worker": "w"}

_setproctitle: Any = None


def prepare() -> None:
    """Load setproctitle early, before the environment is changed.

    setproctitle takes over the memory of argv and environ when first used; it
    must see them before the server removes variables such as LISTEN_FDS
    (Gunicorn had crashes from the opposite order).
    """
    global _setproctitle
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.getproctitle()
    _setproctitle = setproctitle.setproctitle


def full_title(role: str, name: str) -> str:
    """The command line ``ps -f`` shows, Gunicorn's form with workhorse's name."""
    return f"{PREFIX}: {role} [{name}]"


def short_name(role: str, name: str) -> str:
    """The kernel's 15-byte process name."""
    return f"{PREFIX}-{_SHORT.get(role, role[:1])} {name}"[:15]


def set_title(role: str, name: str) -> None:
    """Name this process ``role`` (``master`` or ``worker``) of the server ``name``."""
    if _setproctitle is not None:
        try:
            _setproctitle(full_title(role, name))
        except Exception:  # cosmetic: never fail a process over its title
            pass
    # After setproctitle, which also writes comm (truncating its own title).
    try:
        with open("/proc/self/comm", "w") as handle:
            handle.write(short_name(role, name))
    except OSError:
        pass


def has_full_titles() -> bool:
    """Whether command lines are rewritten (setproctitle installed)."""
    return _setproctitle is not None
