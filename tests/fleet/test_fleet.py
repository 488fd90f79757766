"""A fleet behind a load balancer: rolling updates, crashes and a broken deploy lose nothing.

Three workhorse instances behind a real nginx (upstream keep-alive, HTTP/1.1),
a real Prometheus scraping them; steady keep-alive traffic through nginx
(tests/keepalive_load.py: never retries, counts every failure) while the
fleet is recycled, restarted, killed and upgraded. Each test prints its
figures (requests sent, failed, p99). The configurations are the ones
docs/deploy.md shows.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from keepalive_load import KeepAliveLoad
from support import alive, children_of, wait_for

pytestmark = [pytest.mark.nginx, pytest.mark.slow]

BODY = b"x" * 256


def upstream_errors(fleet) -> list[str]:  # type: ignore[no-untyped-def]
    return [line for line in fleet.nginx.error_log().splitlines()
            if "upstream" in line and "[info]" not in line]


def report(name: str, load: KeepAliveLoad) -> None:
    print(f"fleet, {name}: {load.summary()}")


def test_recycling_every_instance_loses_no_request(fleet):
    """nginx with upstream keep-alive; POSTs (nginx never retries them); HUP on
    every instance and max_requests recycling throughout."""
    fleet = fleet(["--max-requests", "300", "--max-requests-jitter", "50"])
    with KeepAliveLoad(fleet.nginx.port, connections=12, path="/echo", body=BODY) as load:
        load.wait_requests(500)
        for instance in fleet.instances:
            before = set(instance.server.workers())
            instance.server.signal(signal.SIGHUP)
            wait_for(lambda s=instance.server, b=before: not set(s.workers()) & b,  # type: ignore[misc]
                     30, message="a new generation")
            load.wait_requests(500)
    recycles = sum(i.server.log().count("Autorestarting worker") for i in fleet.instances)
    report(f"HUP on each instance and {recycles} max_requests recycles", load)
    assert recycles > 0
    assert load.failures == [], load.summary()
    assert upstream_errors(fleet) == []


def test_a_rolling_restart_loses_no_request(fleet):
    """Each instance in turn: TERM (shutdown_delay 1 s), a new one on the same
    address, wait for its /readyz; the others carry the traffic meanwhile."""
    fleet = fleet()
    with KeepAliveLoad(fleet.nginx.port, connections=12, path="/echo", body=BODY) as load:
        load.wait_requests(300)
        for instance in fleet.instances:
            old = instance.server
            old.signal(signal.SIGTERM)
            assert old.wait_exit(30) == 0
            fleet.extra_servers.append(old)
            instance.start()
            wait_for(instance.ready, 20, message="the new instance ready")
            load.wait_requests(300)
    report("rolling restart of 3 instances", load)
    assert load.failures == [], "\n".join([load.summary(), *upstream_errors(fleet)])


def test_kill_9_of_an_instance_fails_at_most_its_requests_in_flight(fleet):
    fleet = fleet(prometheus=True)
    victim = fleet.instances[1]
    slots = 2 * 4  # workers x threads: the most it can have in flight
    target = f"127.0.0.1:{victim.metrics}"
    prom = fleet.prometheus

    def up() -> str | None:
        found = prom.query(f'up{{instance="{target}"}}')
        return found[0]["value"][1] if found else None

    with KeepAliveLoad(fleet.nginx.port, connections=12, path="/sleep?s=0.02") as load:
        load.wait_requests(300)
        wait_for(lambda: up() == "1", 20, interval=0.5, message="Prometheus scraping the victim")
        before = len(load.failures)
        pids = [victim.server.pid, *victim.server.workers()]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not any(alive(p) for p in pids), message="the instance gone")
        victim.server.proc.wait(5)  # type: ignore[union-attr]
        load.wait_requests(300)  # nginx routes around it
        lost = len(load.failures) - before
        # Down until Prometheus has scraped the gap: a restart quicker than its
        # scrape interval would leave nothing to see.
        wait_for(lambda: up() == "0", 20, interval=0.5, message="Prometheus seeing the gap")
        fleet.extra_servers.append(victim.server)
        victim.start()
        load.wait_requests(300)
    report(f"kill -9 of one instance ({lost} failed at the kill)", load)
    assert lost <= slots, load.summary()
    wait_for(lambda: up() == "1", 20, interval=0.5, message="Prometheus seeing the recovery")


def test_usr2_winch_term_upgrades_an_instance_losing_no_request(fleet, tmp_path: Path):
    pidfile = tmp_path / "upgraded.pid"
    fleet = fleet()
    instance = fleet.instances[0]
    fleet.extra_servers.append(instance.server)
    instance.args = ["--pid", str(pidfile)]
    instance.server.stop()
    instance.start()
    wait_for(pidfile.exists, message="the pidfile")
    old_pid = instance.server.pid
    with KeepAliveLoad(fleet.nginx.port, connections=12) as load:
        load.wait_requests(300)
        instance.server.signal(signal.SIGUSR2)
        new_pid = wait_for(lambda: (p := Path(str(pidfile)))
                           and p.exists() and int(p.read_text() or 0) != old_pid
                           and int(p.read_text()), 20, message="the new master's pidfile")
        wait_for(lambda: len(children_of(new_pid)) >= 2, 20, message="the new workers")
        instance.server.signal(signal.SIGWINCH)
        wait_for(lambda: set(children_of(old_pid)) <= {new_pid}, 20,
                 message="the old workers gone")
        load.wait_requests(300)
        instance.server.signal(signal.SIGTERM)
        wait_for(lambda: not alive(old_pid), 20, message="the old master gone")
        load.wait_requests(300)
    try:
        report("USR2 + WINCH + TERM on one instance", load)
        assert load.failures == [], load.summary()
    finally:
        workers = children_of(new_pid)
        os.kill(new_pid, signal.SIGTERM)
        wait_for(lambda: not alive(new_pid) and not any(alive(w) for w in workers), 20,
                 message="the new master stopped")


def test_an_instance_that_cannot_boot_is_routed_around_at_once(fleet):
    """Its master answers 503 with Retry-After at once; nginx, told to try the
    next upstream on 503, routes there: no client waits for a proxy timeout."""
    fleet = fleet(apps=["testapp:app", "testapp:app", "broken_import:app"],
                  next_upstream="error timeout http_503")
    broken = fleet.instances[2]
    wait_for(lambda: "failed to boot" in broken.server.log(), 15, message="a failed boot")
    started = time.monotonic()
    with KeepAliveLoad(fleet.nginx.port, connections=8) as load:
        load.wait_requests(600)
    report("one instance unable to boot", load)
    assert load.failures == [], "\n".join([load.summary(), *upstream_errors(fleet),
                                           broken.server.log()[-3000:]])
    assert load.p99() < 1.0, load.summary()
    assert time.monotonic() - started < 20
    direct = requests.get(f"http://{broken.address}/", timeout=5)
    assert direct.status_code == 503 and "Retry-After" in direct.headers
