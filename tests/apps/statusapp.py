"""The stuck-request app (``stuckapp``) plus answers with any status, for the status page tests.

- ``/code?c=NNN``: an immediate answer with status NNN (the plots count by class);
- everything else: :mod:`stuckapp` (``/spin``, ``/sleep`` with ``extend``, ...).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import stuckapp


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ["PATH_INFO"] != "/code":
        return stuckapp.app(environ, start_response)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    code = query.get("c", ["200"])[0]
    start_response(f"{code} Chosen", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
