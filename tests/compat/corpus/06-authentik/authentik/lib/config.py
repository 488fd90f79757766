"""Stand-in for authentik.lib.config.CONFIG: settings from AUTHENTIK_* variables.

As authentik's own: ``web.workers`` is ``AUTHENTIK_WEB__WORKERS``.
"""

import os


class _Config:
    def y(self, path, default=None):
        return os.environ.get("AUTHENTIK_" + path.upper().replace(".", "__"), default)

    def y_bool(self, path, default=False):
        return str(self.y(path, default)).lower() == "true"


CONFIG = _Config()
