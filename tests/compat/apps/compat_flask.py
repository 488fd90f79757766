"""The Flask application that stands in for the Flask projects of the corpus."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    flask_app = Flask(__name__)

    @flask_app.get("/")
    def index() -> str:
        return "ok\n"

    return flask_app


app = create_app()
