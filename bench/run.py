#!/usr/bin/env python3
"""workhorse's benchmark: the same apps under workhorse and its peers, loaded with wrk.

    ./setup.sh                       once: wrk, nginx, bench/.venv with every server
    .venv/bin/python run.py          everything, 3 interleaved reps x 10 s
    .venv/bin/python run.py --quick  smoke run, under a minute
    .venv/bin/python run.py --markdown   tables of the latest recorded run

See README.md in this folder for the scenarios and what each column means.
"""

import sys

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
