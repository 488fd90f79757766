"""Who is trusted with what, in the environ: the policy without a server.

The rules follow Gunicorn's (see wsgi/environ.py): a scheme header counts
only from a peer in forwarded_allow_ips, and two that disagree are a 400; a
header name with an underscore is dropped, refused or kept by header_map,
unless a trusted forwarder sends one of forwarder_headers; REMOTE_ADDR is
the peer's or what a PROXY header said; SCRIPT_NAME comes from root_path or
a trusted forwarder. The live tests in tests/hardening/test_trust.py keep
one end-to-end check of each promise.
"""

from __future__ import annotations

from typing import Any

import pytest

from workhorse.http import ProtocolError, Request, ServerConnection
from workhorse.wsgi.environ import EnvironBuilder, EnvironPolicy, ListenerInfo
from workhorse.wsgi.trust import TrustedPeers

PROXY = ("10.0.0.2", 40000)
STRANGER = ("198.51.100.7", 40000)
TCP = ListenerInfo(server_name="127.0.0.1", server_port="8000", is_unix=False, is_ssl=False)
UNIX = ListenerInfo(server_name="", server_port="", is_unix=True, is_ssl=False)


def builder(*, header_map: str = "drop", forwarders: str = "SCRIPT_NAME,PATH_INFO",
            script_name: str = "", listener: ListenerInfo = TCP) -> EnvironBuilder:
    policy = EnvironPolicy(
        trusted_forwarders=TrustedPeers(["10.0.0.0/8"]),
        secure_scheme_headers={"X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"},
        forwarder_headers=frozenset(forwarders.split(",")) if forwarders else frozenset(),
        header_map=header_map, script_name=script_name, multithread=False, multiprocess=False)
    return EnvironBuilder(policy, listener, errors=None, file_wrapper=None)


def request(*headers: str, target: str = "/app/page") -> Request:
    conn = ServerConnection()
    head = f"GET {target} HTTP/1.1\r\nHost: example.test\r\n" + "".join(
        f"{h}\r\n" for h in headers) + "\r\n"
    conn.receive_data(head.encode("latin-1"))
    event = conn.next_event()
    assert isinstance(event, Request)
    return event


def environ(*headers: str, peer: Any = PROXY, **options: Any) -> dict[str, Any]:
    target = options.pop("target", "/app/page")
    proxy = options.pop("proxy", None)
    return builder(**options).build(request(*headers, target=target), peer, None, proxy)


@pytest.mark.parametrize(("peer", "scheme"), [(PROXY, "https"), (STRANGER, "http")])
def test_scheme_headers_count_only_from_trusted_forwarders(peer, scheme):
    assert environ("X-Forwarded-Proto: https", peer=peer)["wsgi.url_scheme"] == scheme


def test_a_scheme_header_with_another_value_means_http():
    assert environ("X-Forwarded-Proto: http")["wsgi.url_scheme"] == "http"


def test_contradictory_scheme_headers_from_a_trusted_forwarder_are_a_400():
    with pytest.raises(ProtocolError) as caught:
        environ("X-Forwarded-Proto: https", "X-Forwarded-Ssl: off")
    assert caught.value.status == 400
    # From a stranger they are not scheme headers at all: no conflict.
    assert environ("X-Forwarded-Proto: https", "X-Forwarded-Ssl: off",
                   peer=STRANGER)["wsgi.url_scheme"] == "http"


@pytest.mark.parametrize(("mode", "kept"), [("drop", False), ("dangerous", True)])
def test_underscore_headers_follow_header_map(mode, kept):
    env = environ("X_Auth_User: admin", peer=STRANGER, header_map=mode)
    assert ("HTTP_X_AUTH_USER" in env) is kept


def test_underscore_headers_can_be_refused():
    with pytest.raises(ProtocolError) as caught:
        environ("X_Auth_User: admin", peer=STRANGER, header_map="refuse")
    assert caught.value.status == 400


def test_an_underscore_header_cannot_spoof_its_dashed_twin():
    env = environ("X-Auth-User: alice", "X_Auth_User: admin", peer=STRANGER)
    assert env["HTTP_X_AUTH_USER"] == "alice"


@pytest.mark.parametrize(("peer", "script_name"), [(PROXY, "/app"), (STRANGER, "")])
def test_forwarder_headers_count_only_from_trusted_forwarders(peer, script_name):
    env = environ("SCRIPT_NAME: /app", peer=peer)
    assert env["SCRIPT_NAME"] == script_name
    assert env["PATH_INFO"] == ("/page" if script_name else "/app/page")


def test_a_path_outside_the_forwarded_script_name_is_a_400():
    with pytest.raises(ProtocolError) as caught:
        environ("SCRIPT_NAME: /other")
    assert caught.value.status == 400


def test_root_path_is_the_script_name_of_every_request():
    env = environ(peer=STRANGER, script_name="/app", target="/app/a%20b")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/a b")


def test_remote_addr_is_the_peer_or_what_a_proxy_header_said():
    assert environ(peer=STRANGER)["REMOTE_ADDR"] == "198.51.100.7"
    said = {"REMOTE_ADDR": "203.0.113.5", "REMOTE_PORT": "1234", "PROXY_PROTOCOL": "TCP4"}
    env = environ(peer=PROXY, proxy=said)
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("203.0.113.5", "1234")


def test_x_forwarded_for_never_rewrites_remote_addr():
    env = environ("X-Forwarded-For: 203.0.113.5")
    assert env["REMOTE_ADDR"] == "10.0.0.2"
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.5"


def test_a_unix_socket_peer_has_no_address_and_the_host_names_the_server():
    env = builder(listener=UNIX).build(request("X-Forwarded-Proto: https"), None, None)
    assert env["REMOTE_ADDR"] == ""
    # A UNIX-socket peer is the local proxy: trusted, as in Gunicorn.
    assert (env["SERVER_NAME"], env["SERVER_PORT"], env["wsgi.url_scheme"]) == (
        "example.test", "443", "https")


def test_a_repeated_host_is_a_400():
    with pytest.raises(ProtocolError):
        environ("Host: other.test")
