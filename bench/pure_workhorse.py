"""workhorse with its scoreboard written by the Python writer instead of the C one.

The benchmark's ``workhorse-pure`` row runs this: it is what a server
installed without a C compiler (or run with WORKHORSE_PURE_PYTHON=1) costs.
"""

from __future__ import annotations

import sys

from workhorse.cli import main
from workhorse.scoreboard import board

board._c_writer = None  # as if _slotwriter had not been built

if __name__ == "__main__":
    main(sys.argv[1:])
