"""--paste on a real server: the app of a real PasteDeploy ini file (PasteDeploy installed)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import requests

from support import wait_for

FACTORY = '''\
def make_app(global_conf, **local_conf):
    """A PasteDeploy app factory: answers with what the ini and --paste-global gave it."""
    text = "%s %s\\n" % (global_conf.get("GREETING", "-"), local_conf.get("who", "-"))
    body = text.encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app
'''

INI = """\
[app:main]
use = call:pasteapp:make_app
who = main

[app:admin]
use = call:pasteapp:make_app
who = admin

[server:main]
use = egg:gunicorn#main
host = 127.0.0.1
port = 1

[loggers]
keys = root, gunicorn.error

[handlers]
keys = file

[formatters]
keys = plain

[logger_root]
handlers =

[logger_gunicorn.error]
level = INFO
handlers = file
propagate = 0
qualname = gunicorn.error

[handler_file]
class = FileHandler
args = ('%(here)s/from-ini.log',)
formatter = plain

[formatter_plain]
format = ini: %(message)s
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pasteapp.py").write_text(FACTORY)
    (tmp_path / "app.ini").write_text(INI.replace("%(here)s", str(tmp_path)))
    return tmp_path


def test_the_main_app_of_the_ini_serves_with_the_global_variables(
    server_factory: Any, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    server = server_factory(
        ["--paste", "app.ini", "--paste-global", "GREETING=hello"], cwd=project
    )
    assert requests.get(server.url, timeout=5).text == "hello main\n"
    # The [server:main] section is not read (its port 1 would fail to bind).
    # The ini has [loggers]: it is the logconfig too, as in Gunicorn.
    wait_for(lambda: "ini: Booting worker" in _read(project / "from-ini.log"),
             message="the ini's logging config in use")


def test_a_named_app_section(server_factory: Any, tmp_path: Path) -> None:
    project = _project(tmp_path)
    server = server_factory(["--paste", "app.ini#admin"], cwd=project)
    assert requests.get(server.url, timeout=5).text == "- admin\n"


def test_an_ini_whose_app_cannot_load_names_the_file(
    server_factory: Any, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    (project / "broken.ini").write_text(textwrap.dedent("""\
        [app:main]
        use = call:pasteapp:no_such_factory
    """))
    server = server_factory(["--paste", "broken.ini", "--preload"], cwd=project, wait=False)
    assert server.wait_exit(30) != 0
    assert "PasteDeploy could not load" in server.log()
    assert "broken.ini" in server.log()


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
