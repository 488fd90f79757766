"""Stand-in for OTLPMetricExporter: records each export."""

from opentelemetry.exporter.otlp.proto.grpc import record
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult


class OTLPMetricExporter(MetricExporter):
    def __init__(self, endpoint=None, insecure=None, **kwargs):
        super().__init__()
        self.endpoint = endpoint

    def export(self, metrics_data, timeout_millis=10000, **kwargs):
        record("otlp exported metrics")
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis=10000):
        return True

    def shutdown(self, timeout_millis=30000, **kwargs):
        record("otlp metric exporter shut down")
