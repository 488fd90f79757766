"""What a request's headers may change, as cases both gateway interfaces must agree on.

The WSGI environ (tests/unit/wsgi) and the ASGI scope (tests/unit/asgi) are
built from the same settings, through the same ``environ_policy`` the workers
use, and each is checked against every case here: the scheme, the script name
(``SCRIPT_NAME`` / ``root_path``), the path below it, which headers reach the
application and which requests are refused with a 400. The cases mirror the
live ones in tests/hardening/test_trust.py (a trusted and an untrusted proxy)
and add the rules that test cannot reach cheaply.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from workhorse.config import Config
from workhorse.http import Request, ServerConnection
from workhorse.workers.serving import environ_policy
from workhorse.wsgi.environ import EnvironPolicy, ListenerInfo

#: A peer in the default ``forwarded_allow_ips`` (127.0.0.1,::1) and one outside it.
TRUSTED = ("127.0.0.1", 40001)
UNTRUSTED = ("203.0.113.9", 40002)
#: A UNIX-socket peer: always trusted, as in Gunicorn.
UNIX_PEER = None


@dataclasses.dataclass(frozen=True)
class TrustCase:
    id: str
    peer: tuple[str, int] | None
    headers: tuple[tuple[str, str], ...] = ()
    path: str = "/mounted/environ"
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    ssl: bool = False
    #: None: served; an int: refused with this status.
    status: int | None = None
    scheme: str = "http"
    script_name: str = ""
    #: The path below the script name, percent-decoded.
    path_info: str = "/mounted/environ"
    #: Header names (as sent) that must reach the application / must not.
    kept: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()


CASES = [
    TrustCase("trusted proxy scheme", TRUSTED, (("X-Forwarded-Proto", "https"),),
              scheme="https", kept=("X-Forwarded-Proto",)),
    TrustCase("trusted proxy says http", TRUSTED, (("X-Forwarded-Proto", "http"),),
              ssl=True, scheme="http"),
    TrustCase("untrusted scheme ignored", UNTRUSTED, (("X-Forwarded-Proto", "https"),),
              scheme="http", kept=("X-Forwarded-Proto",)),
    TrustCase("tls listener", UNTRUSTED, ssl=True, scheme="https"),
    TrustCase("trusted ssl header", TRUSTED, (("X-Forwarded-Ssl", "on"),), scheme="https"),
    TrustCase("contradictory scheme headers", TRUSTED,
              (("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "off")), status=400),
    TrustCase("contradictory but untrusted", UNTRUSTED,
              (("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "off")), scheme="http"),
    TrustCase("unix peer is trusted", UNIX_PEER, (("X-Forwarded-Proto", "https"),),
              scheme="https"),
    TrustCase("scheme header only from forwarded_allow_ips", TRUSTED,
              (("X-Forwarded-Proto", "https"),), settings={"forwarded_allow_ips": ["10.0.0.1"]},
              scheme="http"),
    TrustCase("forwarded_allow_ips star", UNTRUSTED, (("X-Forwarded-Proto", "https"),),
              settings={"forwarded_allow_ips": ["*"]}, scheme="https"),
    TrustCase("trusted script name", TRUSTED, (("SCRIPT_NAME", "/mounted"),),
              script_name="/mounted", path_info="/environ", kept=("SCRIPT_NAME",)),
    TrustCase("untrusted script name dropped", UNTRUSTED, (("SCRIPT_NAME", "/mounted"),),
              dropped=("SCRIPT_NAME",)),
    TrustCase("dashed script name is an ordinary header", UNTRUSTED,
              (("Script-Name", "/mounted"),), kept=("Script-Name",)),
    TrustCase("dashed script name from a trusted proxy too", TRUSTED,
              (("Script-Name", "/mounted"),), kept=("Script-Name",)),
    TrustCase("last trusted script name wins", TRUSTED,
              (("SCRIPT_NAME", "/elsewhere"), ("SCRIPT_NAME", "/mounted")),
              script_name="/mounted", path_info="/environ"),
    TrustCase("script name outside the path", TRUSTED, (("SCRIPT_NAME", "/elsewhere"),),
              status=400),
    TrustCase("root_path setting", UNTRUSTED, settings={"root_path": "/mounted/"},
              script_name="/mounted", path_info="/environ"),
    TrustCase("root_path setting, path outside", UNTRUSTED, path="/other",
              settings={"root_path": "/mounted"}, status=400),
    TrustCase("trusted header beats root_path", TRUSTED, (("SCRIPT_NAME", "/mounted/environ"),),
              settings={"root_path": "/mounted"}, script_name="/mounted/environ", path_info=""),
    TrustCase("underscore dropped", UNTRUSTED, (("X_Custom", "1"), ("X-Other", "2")),
              kept=("X-Other",), dropped=("X_Custom",)),
    TrustCase("underscore refused", UNTRUSTED, (("X_Custom", "1"),),
              settings={"header_map": "refuse"}, status=400),
    TrustCase("underscore dangerous", UNTRUSTED, (("X_Custom", "1"),),
              settings={"header_map": "dangerous"}, kept=("X_Custom",)),
    TrustCase("underscore from a trusted forwarder not listed", TRUSTED, (("X_Custom", "1"),),
              dropped=("X_Custom",)),
    TrustCase("underscore from a trusted forwarder, star", TRUSTED, (("X_Custom", "1"),),
              settings={"forwarder_headers": ["*"]}, kept=("X_Custom",)),
    TrustCase("underscore refused even from a trusted forwarder not listed", TRUSTED,
              (("X_Custom", "1"),), settings={"header_map": "refuse"}, status=400),
    TrustCase("duplicate content-type", UNTRUSTED,
              (("Content-Type", "text/plain"), ("Content-Type", "text/html")), status=400),
    TrustCase("encoded path", UNTRUSTED, path="/mounted/caf%C3%A9%20x",
              path_info="/mounted/caf\u00e9 x"),
]


def request_for(case: TrustCase) -> Request:
    """The parsed request head of ``case`` (GET, HTTP/1.1, Host: t)."""
    head = f"GET {case.path} HTTP/1.1\r\nHost: t\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in case.headers)
    conn = ServerConnection()
    conn.receive_data((head + "\r\n").encode("latin-1"))
    request = conn.next_event()
    assert isinstance(request, Request)
    return request


def policy_for(case: TrustCase) -> EnvironPolicy:
    """The policy a worker builds from these settings (workers/serving.py)."""
    return environ_policy(Config(**case.settings), multithread=False)


def listener_for(case: TrustCase) -> ListenerInfo:
    return ListenerInfo(server_name="127.0.0.1", server_port="8000", is_unix=case.peer is None,
                        is_ssl=case.ssl)
