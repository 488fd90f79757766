"""The WSGI environ applies the trust rules of tests/trust_cases.py.

The ASGI scope is checked against the same cases (tests/unit/asgi/test_scope.py),
so a rule changed for one interface and not the other fails here or there.
"""

from __future__ import annotations

import pytest

from trust_cases import CASES, TrustCase, listener_for, policy_for, request_for
from workhorse.http import ProtocolError
from workhorse.wsgi.environ import EnvironBuilder


def environ_key(name: str) -> str:
    return "HTTP_" + name.upper().replace("-", "_")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_environ_follows_the_trust_rules(case: TrustCase) -> None:
    builder = EnvironBuilder(policy_for(case), listener_for(case), None, None)
    request = request_for(case)
    if case.status is not None:
        with pytest.raises(ProtocolError) as caught:
            builder.build(request, case.peer, None)
        assert caught.value.status == case.status
        return
    environ = builder.build(request, case.peer, None)
    assert environ["wsgi.url_scheme"] == case.scheme
    assert environ["SCRIPT_NAME"] == case.script_name
    # PEP 3333: PATH_INFO carries the decoded bytes as latin-1 characters.
    assert environ["PATH_INFO"].encode("latin-1").decode("utf-8") == case.path_info
    for name in case.kept:
        assert environ_key(name) in environ, name
    for name in case.dropped:
        assert environ_key(name) not in environ, name
