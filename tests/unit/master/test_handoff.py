"""The hand-off protocol and the master's relay, with real sockets and descriptors."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from workhorse import handoff
from workhorse.handoff import Handed
from workhorse.master.relay import Receiver, Relay
from workhorse.master.rescue import close_quietly, has_pending_data


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def connected() -> tuple[socket.socket, socket.socket, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname(), timeout=5)
    server, _ = listener.accept()
    listener.close()
    return client, server, listener


def test_connections_travel_with_their_origin_and_proxy_info(pair):
    sender, receiver = pair
    client, server, _ = connected()
    try:
        sent = handoff.send(sender, [Handed(server.fileno(), 1, {"REMOTE_ADDR": "203.0.113.7"},
                                            proxy_done=True)], wait=0)
        assert sent == 1
        server.close()  # the sender's copy goes; the connection lives on
        (item,) = handoff.receive(receiver)
        assert (item.listener, item.proxy_environ, item.proxy_done) == (
            1, {"REMOTE_ADDR": "203.0.113.7"}, True)
        assert not os.get_inheritable(item.fd)
        # What the client sent meanwhile waits for the new owner.
        client.sendall(b"GET / HTTP/1.1\r\n\r\n")
        adopted = socket.socket(fileno=item.fd)
        assert adopted.recv(100) == b"GET / HTTP/1.1\r\n\r\n"
        adopted.sendall(b"answer")
        assert client.recv(100) == b"answer"
        adopted.close()
    finally:
        client.close()


def test_more_than_a_batch_goes_in_several_datagrams(pair):
    sender, receiver = pair
    pairs = [connected() for _ in range(handoff.MAX_BATCH + 5)]
    try:
        items = [Handed(server.fileno(), 0) for _, server, _ in pairs]
        assert handoff.send(sender, items, wait=1.0) == len(items)
        first = handoff.receive(receiver)
        second = handoff.receive(receiver)
        assert (len(first), len(second)) == (handoff.MAX_BATCH, 5)
        with pytest.raises(BlockingIOError):
            handoff.receive(receiver)
        for item in first + second:
            os.close(item.fd)
    finally:
        for client, server, _ in pairs:
            client.close()
            server.close()


def test_a_full_queue_does_not_block_the_master(pair):
    sender, receiver = pair
    client, server, _ = connected()
    try:
        sent_batches = 0
        while handoff.send(sender, [Handed(server.fileno(), 0)], wait=0) == 1:
            sent_batches += 1
            assert sent_batches < 10_000
        assert sent_batches > 0  # it took some, then said no at once
        drained = 0
        while True:
            try:
                items = handoff.receive(receiver)
            except BlockingIOError:
                break
            drained += len(items)
            for item in items:
                os.close(item.fd)
        assert drained == sent_batches
    finally:
        client.close()
        server.close()


def test_a_malformed_datagram_closes_what_it_carried(pair):
    sender, receiver = pair
    client, server, _ = connected()
    try:
        socket.send_fds(sender, [b"not json"], [server.fileno()])
        server.close()
        assert handoff.receive(receiver) == []
        client.settimeout(5)
        assert client.recv(10) == b""  # the only other copy was closed: EOF
    finally:
        client.close()


def test_a_stopping_worker_gives_back_what_was_queued_for_it(pair):
    master, worker = pair
    client, server, _ = connected()
    try:
        assert handoff.send(master, [Handed(server.fileno(), 0)], wait=0) == 1
        server.close()
        handoff.return_queued(worker, wait=0)
        (item,) = handoff.receive(master)  # back at the master, still open
        client.sendall(b"ping")
        back = socket.socket(fileno=item.fd)
        assert back.recv(10) == b"ping"
        back.close()
    finally:
        client.close()


def test_ready_announcement_is_an_empty_batch(pair):
    sender, receiver = pair
    handoff.announce_ready(sender)
    assert handoff.receive(receiver) == []


# --- the relay ---------------------------------------------------------------------------


class Answers:
    def __init__(self) -> None:
        self.unavailable: list[tuple[int, float]] = []

    def answer(self, fd: int, retry_after: float) -> None:
        self.unavailable.append((fd, retry_after))
        close_quietly(fd)


def relay_with(answers: Answers) -> Relay:
    return Relay(has_pending_data=has_pending_data, answer_unavailable=answers.answer,
                 close=close_quietly)


def held_connection() -> tuple[socket.socket, Handed]:
    """A client and a Handed for a fresh descriptor of its server side."""
    client, server, _ = connected()
    fd = os.dup(server.fileno())
    server.close()
    return client, Handed(fd, 0)


def test_relay_spreads_connections_over_receivers_least_loaded_first():
    answers = Answers()
    relay = relay_with(answers)
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(2)]
    clients = []
    try:
        for _ in range(5):
            client, item = held_connection()
            clients.append(client)
            relay.take([item], now=0.0)
        busy, quiet = pairs
        placed = relay.place([Receiver(busy[0], load=50), Receiver(quiet[0], load=1)])
        assert placed == 5 and relay.held == []
        got_quiet = handoff.receive(quiet[1])
        got_busy = handoff.receive(busy[1])
        assert (len(got_quiet), len(got_busy)) == (3, 2)
        for item in got_quiet + got_busy:
            os.close(item.fd)
    finally:
        for a, b in pairs:
            a.close()
            b.close()
        for client in clients:
            client.close()


def test_relay_holds_until_a_receiver_exists_then_settles_by_age():
    answers = Answers()
    relay = relay_with(answers)
    idle_client, idle = held_connection()
    waiting_client, waiting = held_connection()
    try:
        waiting_client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        relay.take([idle, waiting], now=10.0)
        assert relay.place([]) == 0
        assert relay.expire(12.0, hold_for=5.0, retry_after=None) == 0
        assert len(relay.held) == 2
        assert relay.expire(15.0, hold_for=5.0, retry_after=None) == 2
        assert answers.unavailable == [(waiting.fd, 1.0)]  # the one with a request
        idle_client.settimeout(5)
        assert idle_client.recv(10) == b""  # the idle one: closed
    finally:
        idle_client.close()
        waiting_client.close()


def test_relay_answers_waiting_requests_at_once_while_boots_fail():
    answers = Answers()
    relay = relay_with(answers)
    idle_client, idle = held_connection()
    waiting_client, waiting = held_connection()
    try:
        waiting_client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        relay.take([idle, waiting], now=10.0)
        relay.expire(10.1, hold_for=30.0, retry_after=4.0)
        assert answers.unavailable == [(waiting.fd, 4.0)]
        assert [h.item for h in relay.held] == [idle]  # idle ones may still wait
        relay.settle_all()
        assert relay.held == []
    finally:
        idle_client.close()
        waiting_client.close()
