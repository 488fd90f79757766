"""The benchmark harness behind bench/run.py (standard library only).

    servers.py    the rows measured: commands, how to find them, versions
    scenarios.py  the load shapes (a, b, c, d, json, big, echo)
    procs.py      start and stop by PID; CPU and memory from /proc
    machine.py    foreign CPU, quiet wait, CPU pinning, machine description
    probes.py     readiness, app check, connection behaviour, new-client probe
    wrk.py        wrk's command line and report
    nginx.py      the reverse proxy of scenario d
    runner.py     one server start and its measurements; interleaved reps
    results.py    rows in CSV, cells (medians) and ratios
    report.py     terminal summary and Markdown tables
    cli.py        the command line
"""
