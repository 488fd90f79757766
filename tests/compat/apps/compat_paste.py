"""The PasteDeploy app factory that stands in for a paste-deployed project (``use = call:...``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from compat_wsgi import app


def make_app(global_conf: dict[str, str], **local_conf: str) -> Callable[..., Iterable[bytes]]:
    """PasteDeploy's app factory signature; the app is the plain stand-in."""
    del global_conf, local_conf
    return app

