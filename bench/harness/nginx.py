"""The reverse proxy of scenario d, shaped like the deployment in Gunicorn's docs.

One nginx worker; `proxy_pass` with nginx's defaults: HTTP/1.0 to the
upstream and no upstream keep-alive (a new TCP connection to the server per
request), response buffering on. Clients keep their connection to nginx.
Everything nginx writes stays in this start's scratch folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx.error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    upstream app_server {{
        server {host}:{upstream} fail_timeout=0;
    }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_redirect off;
            proxy_pass http://app_server;
        }}
    }}
}}
"""


def binary() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("nginx", path=path)


def argv(nginx: str, tmp: Path, host: str, port: int, upstream: int) -> list[str]:
    conf = tmp / "nginx.conf"
    conf.write_text(CONF.format(tmp=tmp, host=host, port=port, upstream=upstream))
    return [nginx, "-p", str(tmp), "-e", str(tmp / "nginx.error.log"), "-c", str(conf)]
