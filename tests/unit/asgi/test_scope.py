"""ASGI scopes: the trust rules the WSGI environ applies, and the fields ASGI defines."""

from __future__ import annotations

from typing import Any

import pytest

from trust_cases import CASES, TrustCase, listener_for, policy_for, request_for
from workhorse.asgi.scope import ScopeBuilder, decode_path
from workhorse.config import Config
from workhorse.http import ProtocolError, Request, ServerConnection
from workhorse.workers.serving import environ_policy
from workhorse.wsgi.environ import ListenerInfo

TCP = ListenerInfo(server_name="0.0.0.0", server_port="8000", is_unix=False, is_ssl=False)
UNIX = ListenerInfo(server_name="", server_port="", is_unix=True, is_ssl=False)
PEER = ("198.51.100.7", 50000)


def builder(listener: ListenerInfo = TCP, state: dict[str, Any] | None = None,
            **settings: Any) -> ScopeBuilder:
    return ScopeBuilder(environ_policy(Config(**settings), multithread=False), listener, state)


def parse(head: bytes) -> Request:
    conn = ServerConnection()
    conn.receive_data(head)
    request = conn.next_event()
    assert isinstance(request, Request)
    return request


def get(target: str = "/", *headers: str, version: str = "1.1") -> Request:
    lines = "".join(f"{h}\r\n" for h in headers)
    return parse(f"GET {target} HTTP/{version}\r\nHost: example.org\r\n{lines}\r\n"
                 .encode("latin-1"))


# --- the trust rules, the same cases as the WSGI environ ------------------------------

@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
@pytest.mark.parametrize("kind", ["http", "websocket"])
def test_scope_follows_the_trust_rules(case: TrustCase, kind: str) -> None:
    scopes = ScopeBuilder(policy_for(case), listener_for(case))
    make = scopes.http_scope if kind == "http" else scopes.websocket_scope
    request = request_for(case)
    if case.status is not None:
        with pytest.raises(ProtocolError) as caught:
            make(request, case.peer)
        assert caught.value.status == case.status
        return
    scope = make(request, case.peer)
    secure = case.scheme == "https"
    assert scope["scheme"] == {"http": ("http", "https"), "websocket": ("ws", "wss")}[kind][secure]
    assert scope["root_path"] == case.script_name
    # ASGI's path is the whole path; PATH_INFO is what follows root_path.
    assert scope["path"].startswith(scope["root_path"])
    assert scope["path"][len(scope["root_path"]):] == case.path_info
    names = [name for name, _ in scope["headers"]]
    for name in case.kept:
        assert name.lower().encode() in names, name
    for name in case.dropped:
        assert name.lower().encode() not in names, name


# --- the ASGI fields ---------------------------------------------------------------------

def test_http_scope_fields() -> None:
    request = get("/a%20b/c?x=1&y=%20", "X-Custom: one", "Accept: */*", "x-custom: two")
    scope = builder().http_scope(request, PEER)
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/a b/c",
        "raw_path": b"/a%20b/c",
        "query_string": b"x=1&y=%20",
        "root_path": "",
        "headers": [(b"host", b"example.org"), (b"x-custom", b"one"), (b"accept", b"*/*"),
                    (b"x-custom", b"two")],
        "client": PEER,
        "server": ("0.0.0.0", 8000),
        "state": {},
        "extensions": {"http.response.trailers": {}},
    }


def test_websocket_scope_fields() -> None:
    request = get("/ws?room=1", "Upgrade: websocket", "Connection: Upgrade",
                  "Sec-WebSocket-Protocol: chat.v2, chat.v1", "Sec-WebSocket-Protocol: ,json ,")
    scope = builder(ListenerInfo("127.0.0.1", "443", False, True)).websocket_scope(request, PEER)
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
    assert scope["scheme"] == "wss"
    assert scope["path"] == "/ws" and scope["raw_path"] == b"/ws"
    assert scope["query_string"] == b"room=1"
    assert scope["subprotocols"] == ["chat.v2", "chat.v1", "json"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert "method" not in scope
    assert scope["server"] == ("127.0.0.1", 443)


def test_http_10() -> None:
    scope = builder().http_scope(get("/", version="1.0"), PEER)
    assert scope["http_version"] == "1.0"


@pytest.mark.parametrize(
    ("raw", "path"),
    [(b"/plain", "/plain"),
     (b"/caf%C3%A9", "/caf\u00e9"),
     (b"/caf\xc3\xa9", "/caf\u00e9"),  # raw UTF-8 (obs-text), as nginx passes it
     (b"/caf\xc3\xa9%20x", "/caf\u00e9 x"),
     (b"/bad%FF%FE", "/bad\ufffd\ufffd"),
     (b"/a%2Fb", "/a/b"),
     (b"/%", "/%")],
)  # fmt: skip
def test_path_is_percent_and_utf8_decoded_raw_path_is_kept(raw: bytes, path: str) -> None:
    request = parse(b"GET " + raw + b"?q=%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n")
    scope = builder().http_scope(request, PEER)
    assert scope["path"] == path
    assert scope["raw_path"] == raw
    assert scope["query_string"] == b"q=%C3%A9"  # never decoded


def test_absolute_form_target() -> None:
    request = parse(b"GET http://example.org/x%20y?z HTTP/1.1\r\nHost: example.org\r\n\r\n")
    scope = builder().http_scope(request, PEER)
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == ("/x y", b"/x%20y", b"z")


def test_header_values_keep_their_bytes() -> None:
    request = parse(b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9 \xff\r\n\r\n")
    scope = builder().http_scope(request, PEER)
    assert (b"x-name", b"caf\xc3\xa9 \xff") in scope["headers"]


def test_client_from_the_proxy_protocol() -> None:
    proxy = {"PROXY_PROTOCOL": "TCP4", "REMOTE_ADDR": "203.0.113.7", "REMOTE_PORT": "4567",
             "PROXY_ADDR": "192.0.2.1", "PROXY_PORT": "443"}
    scope = builder().http_scope(get(), PEER, proxy)
    assert scope["client"] == ("203.0.113.7", 4567)
    assert scope["server"] == ("0.0.0.0", 8000)


def test_unix_socket_has_no_client_and_no_server() -> None:
    scope = builder(UNIX).http_scope(get(), None)
    assert scope["client"] is None
    assert scope["server"] is None
    proxied = builder(UNIX).http_scope(get(), None, {"REMOTE_ADDR": "2001:db8::1",
                                                      "REMOTE_PORT": "80"})
    assert proxied["client"] == ("2001:db8::1", 80)


def test_ipv6_peer_becomes_host_and_port() -> None:
    scope = builder().http_scope(get(), ("2001:db8::2", 443, 0, 0))
    assert scope["client"] == ("2001:db8::2", 443)


def test_state_is_a_shallow_copy_per_request() -> None:
    pool = object()
    state: dict[str, Any] = {"pool": pool}
    scopes = builder(state=state)
    first = scopes.http_scope(get(), PEER)
    first["state"]["request_only"] = 1
    second = scopes.websocket_scope(get(), PEER)
    assert second["state"] == {"pool": pool}
    assert second["state"]["pool"] is pool
    assert state == {"pool": pool}
    state["added_at_startup"] = 2  # the lifespan fills the same dict later
    assert scopes.http_scope(get(), PEER)["state"] == {"pool": pool, "added_at_startup": 2}


def test_each_scope_has_its_own_mutable_parts() -> None:
    scopes = builder()
    first, second = scopes.http_scope(get(), PEER), scopes.http_scope(get(), PEER)
    for key in ("asgi", "headers", "extensions", "state"):
        assert first[key] is not second[key], key


def test_root_path_setting_is_decoded_like_path() -> None:
    scope = builder(root_path="/caf%C3%A9").http_scope(get("/caf%C3%A9/x"), PEER)
    assert (scope["root_path"], scope["path"]) == ("/caf\u00e9", "/caf\u00e9/x")


def test_header_name_memo_is_bounded() -> None:
    scopes = builder()
    for i in range(3000):
        scopes.http_scope(get("/", f"X-Made-Up-{i}: 1"), PEER)
    assert len(scopes._names) <= 1024


def test_decode_path_of_plain_ascii_is_the_same_object() -> None:
    path = "/already/plain"
    assert decode_path(path) is path
