"""Views of the running server: status, control, metrics, backlog readers.

Strategy: the master builds one :class:`~workhorse.observe.schema.Snapshot`
and every view renders it, so they all agree. The parts:

- :mod:`.schema`: the snapshot's shape, the contract with the master;
- :mod:`.contract`: what the plugins need from the master (a Protocol);
- :mod:`.backlog`: listen-queue length and limit from the kernel (TCP, UNIX);
- :mod:`.oneshot`, :mod:`.sockets`: the non-blocking one-exchange server the
  master-side plugins share, and how they open their sockets;
- :mod:`.control`: the control socket (JSON commands) as a master plugin;
- :mod:`.prometheus`, :mod:`.metrics_http`: metrics text and the
  ``/metrics``, ``/healthz``, ``/readyz`` endpoint as a master plugin;
- :mod:`.status_page`, :mod:`.status_html`: the ``/status`` page for browsers
  on the metrics listener (its style and script are ``status_page.css`` and
  ``status_page.js``, inlined), and :mod:`.history`: the ring of the last
  minutes it plots, sampled as a master plugin;
- :mod:`.statsd`: server-wide gauges to StatsD as a master plugin;
- :mod:`.plugins`: the plugins a configuration asks for;
- :mod:`.client`, :mod:`.view`, :mod:`.status`: ``workhorse status`` and
  ``workhorse ctl``.

This package imports only ``scoreboard`` and ``config`` of workhorse.
"""
