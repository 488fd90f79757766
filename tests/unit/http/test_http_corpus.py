"""Every corpus case, fed whole, byte by byte, and cut in two at every position.

The three feeds must give the same events (or the same error): a parser that
depends on how reads split the stream is a smuggling bug waiting for a
network to find it. See http_corpus.py for the corpus format.
"""

from __future__ import annotations

import pytest
from http_corpus import Case, check, load_cases, run_stream, split_positions

CASES = load_cases()
IDS = [f"{c.file.removesuffix('.http')}/{c.name}" for c in CASES]


def test_corpus_is_not_empty() -> None:
    assert len(CASES) > 100
    assert any(c.error_status is None for c in CASES)
    assert any(c.error_status is not None for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_whole(case: Case) -> None:
    check(case, run_stream([case.data], case.limits))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_byte_by_byte(case: Case) -> None:
    data = case.data
    check(case, run_stream([data[i : i + 1] for i in range(len(data))], case.limits))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_split_in_two(case: Case) -> None:
    data = case.data
    for cut in split_positions(len(data)):
        check(case, run_stream([data[:cut], data[cut:]], case.limits))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_no_request_is_parsed_out_of_a_body(case: Case) -> None:
    """The corpus hides "/smuggled" requests in bodies; none may ever surface."""
    data = case.data
    feeds = [[data], [data[i : i + 1] for i in range(len(data))]]
    feeds += [[data[:cut], data[cut:]] for cut in split_positions(len(data))[::7]]
    for pieces in feeds:
        outcome = run_stream(pieces, case.limits)
        assert not [r for r in outcome.requests if "smuggled" in r.target], outcome.summary()
