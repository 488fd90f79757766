"""Stand-in for the example's app.py: a Flask app whose view opens spans with the
tracer the worker's post_fork set up (the example's FlaskInstrumentor, from
opentelemetry-instrumentation-flask, is not installed here)."""

import flask

from opentelemetry import trace

application = flask.Flask(__name__)

tracer = trace.get_tracer(__name__)


@application.route("/")
def index():
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("fib_fast"):
            pass
    return "ok\n"
