"""Stand-in for authentik.lib.utils.http (only used by the startup analytics, disabled here)."""

from requests import Session


def get_http_session() -> Session:
    return Session()
