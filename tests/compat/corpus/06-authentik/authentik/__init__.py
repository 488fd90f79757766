"""Stand-in for the authentik package: what lifecycle/gunicorn.conf.py imports from it."""


def get_full_version() -> str:
    return "2023.10.0"
