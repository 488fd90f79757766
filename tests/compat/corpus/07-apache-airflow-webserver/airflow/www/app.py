"""Stand-in for airflow.www.app: cached_app() returns the stand-in Flask app, built once."""

app = None


def cached_app(config=None, testing=False):
    global app
    if not app:
        from compat_flask import create_app

        app = create_app()
    return app
