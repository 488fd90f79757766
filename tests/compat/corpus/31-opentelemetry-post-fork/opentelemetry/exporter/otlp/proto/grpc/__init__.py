"""Stand-in for opentelemetry-exporter-otlp-proto-grpc (grpcio is not installed here).

The two exporters the config imports, with the real ones' constructors; instead
of sending OTLP over gRPC to the collector they append what they export to
``otlp-export.log`` in the working directory, one line each.
"""

import os

LOG = "otlp-export.log"


def record(line):
    with open(LOG, "a") as handle:
        handle.write(f"{line} (pid {os.getpid()})\n")
