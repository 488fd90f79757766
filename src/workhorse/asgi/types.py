"""The shapes ASGI passes around, as type aliases.

Strategy: ASGI messages and scopes are plain dicts whose keys depend on their
``type``; a TypedDict per message would cost nothing at run time but would
reject the extra keys the specification says servers must tolerate, so they
are ``dict[str, Any]`` and every module validates what it reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

Scope: TypeAlias = dict[str, Any]
#: A message from the application: any mapping, validated when read.
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[dict[str, Any]]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
#: The worker's writer: takes bytes for the socket; returns None when they were
#: accepted at once, or an awaitable to wait on while the transport drains.
Write: TypeAlias = Callable[[bytes], "Awaitable[None] | None"]
