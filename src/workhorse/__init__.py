"""workhorse: a pre-fork HTTP server for WSGI applications.

It never loses control of a worker (per-request deadlines enforced by the
master, stack dumps of stuck workers, a 504 for their clients) and always shows
what its workers are doing (a shared-memory scoreboard served by the master).
"""

__version__ = "0.1.0"
SERVER_SOFTWARE = f"workhorse/{__version__}"
