"""The C writer's layout header is generated from board.py and is current."""

from __future__ import annotations

from workhorse.scoreboard import _slotwriter, board, layout_header  # type: ignore[attr-defined]


def test_the_committed_header_is_what_board_py_generates():
    assert layout_header.HEADER.read_text() == layout_header.render(), (
        "src/workhorse/scoreboard/_slotlayout.h is stale: run "
        "`python -m workhorse.scoreboard.layout_header` and rebuild (pip install -e .)")


def test_the_built_writer_has_board_pys_layout():
    assert board._python_layout() == _slotwriter.LAYOUT
