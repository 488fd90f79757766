"""workhorse with its scoreboard written by the Python writer instead of the C one.

The benchmark's ``workhorse-pure`` row runs this: it is what a server
installed without a C compiler (or run with WORKHORSE_PURE_PYTHON=1) costs.
"""

from __future__ import annotations

import os
import sys

# Before workhorse is imported: the scoreboard picks its writer (and its
# busy/idle count) at import, and the master logs the same warning as
# without a compiler.
os.environ["WORKHORSE_PURE_PYTHON"] = "1"

from workhorse.cli import main

if __name__ == "__main__":
    main(sys.argv[1:])
