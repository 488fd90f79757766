"""Real applications for the interop tests, written into a temp dir per module.

- :func:`make_django_project` runs ``python -m django startproject`` and
  ``startapp``, then adds the views below, the URLs and the settings a
  deployment behind nginx needs (``DEBUG = False``, ``ALLOWED_HOSTS``).
- :func:`write_flask_app` writes a one-file Flask app.

Both get a deterministic binary file (:func:`big_file_bytes`) to serve with
``FileResponse`` / ``send_file``, which go through ``wsgi.file_wrapper`` and
``sendfile(2)`` in workhorse.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

#: The size of the file both apps serve (bigger than nginx's proxy buffers,
#: so nginx spools it to proxy_temp_path).
BIG_FILE_SIZE = 3 * 1024 * 1024 + 17


def big_file_bytes(size: int = BIG_FILE_SIZE) -> bytes:
    """Deterministic, non-repeating-looking content of ``size`` bytes."""
    block = hashlib.sha256(b"interop").digest() * 2048  # 64 KiB
    data = bytearray()
    counter = 0
    while len(data) < size:
        data += counter.to_bytes(4, "big") + block[: 65536 - 4]
        counter += 1
    return bytes(data[:size])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- Django -----------------------------------------------------------------

DJANGO_APP_INIT = """\
import os

#: Which process imported the app: the master with --preload, else a worker.
IMPORT_PID = os.getpid()
"""

DJANGO_VIEWS = '''\
import hashlib
import json
import os
import time

from django.http import (FileResponse, HttpResponse, HttpResponseNotAllowed, JsonResponse,
                         StreamingHttpResponse)
from django.views.decorators.csrf import csrf_exempt

import hello


def _text(body, **headers):
    response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    response["X-Worker-Pid"] = str(os.getpid())
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def hello_view(request):
    return _text("Hello from Django\\n")


@csrf_exempt
def echo(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    body = request.body
    response = HttpResponse(body, content_type="application/octet-stream")
    response["X-Body-Length"] = str(len(body))
    response["X-Body-Sha256"] = hashlib.sha256(body).hexdigest()
    response["X-Seen-Content-Length"] = request.META.get("CONTENT_LENGTH", "")
    return response


def slow(request):
    seconds = float(request.GET.get("s", "0.2"))
    time.sleep(seconds)
    return _text(f"slept {seconds}\\n")


def whoami(request):
    meta = request.META
    return JsonResponse({
        "remote_addr": meta.get("REMOTE_ADDR"),
        "remote_port": meta.get("REMOTE_PORT"),
        "url_scheme": meta.get("wsgi.url_scheme"),
        "is_secure": request.is_secure(),
        "x_forwarded_for": meta.get("HTTP_X_FORWARDED_FOR"),
        "x_forwarded_proto": meta.get("HTTP_X_FORWARDED_PROTO"),
        "x_request_start": meta.get("HTTP_X_REQUEST_START"),
        "host": request.get_host(),
        "absolute": request.build_absolute_uri("/somewhere/"),
        "server_name": meta.get("SERVER_NAME"),
        "server_port": meta.get("SERVER_PORT"),
        "pid": os.getpid(),
    })


def headers(request):
    response = _text("headers\\n", X_Echo_Custom=request.headers.get("X-Custom", "-"))
    response["X-Utf8-Safe"] = "caf\\u00e9"  # Django encodes it as latin-1
    response["Cache-Control"] = "no-store"
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    return response


def big(request):
    size = int(request.GET.get("size", str(2 * 1024 * 1024)))
    pattern = b"0123456789abcdef"
    return HttpResponse(pattern * (size // len(pattern)) + pattern[: size % len(pattern)],
                        content_type="application/octet-stream")


def big_file(request):
    from django.conf import settings

    return FileResponse(open(settings.INTEROP_BIG_FILE, "rb"),
                        content_type="application/octet-stream")


def stream(request):
    count = int(request.GET.get("n", "5"))
    return StreamingHttpResponse((f"part {i}\\n".encode() for i in range(count)),
                                 content_type="text/plain")


def boom(request):
    raise RuntimeError("boom from a Django view")


def pid(request):
    return JsonResponse({"pid": os.getpid(), "import_pid": hello.IMPORT_PID})
'''

DJANGO_APP_URLS = """\
from django.urls import path

from . import views

urlpatterns = [
    path("hello/", views.hello_view),
    path("echo/", views.echo),
    path("slow/", views.slow),
    path("whoami/", views.whoami),
    path("headers/", views.headers),
    path("big/", views.big),
    path("file/", views.big_file),
    path("stream/", views.stream),
    path("boom/", views.boom),
    path("pid/", views.pid),
]
"""

DJANGO_MIDDLEWARE = """\
class FooterMiddleware:
    \"\"\"Appends a footer to HTML pages when asked (``?footer=1``).

    It sits first in MIDDLEWARE, so it sees the response after CommonMiddleware
    has set Content-Length, and, like many a real footer or toolbar
    middleware, it forgets to update that header.
    \"\"\"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.GET.get("footer") and not response.streaming:
            response.content += b"<!-- footer -->"
        return response
"""

DJANGO_ROOT_URLS = """\
from django.urls import include, path

urlpatterns = [path("", include("hello.urls"))]
"""

DJANGO_SETTINGS_TAIL = """

# --- added by tests/interop/interop_apps.py: a production-like deployment ---
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [*INSTALLED_APPS, "hello"]
MIDDLEWARE = ["hello.middleware.FooterMiddleware", *MIDDLEWARE]
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024
INTEROP_BIG_FILE = BASE_DIR / "big.bin"
"""


def make_django_project(root: Path, name: str = "myproject") -> Path:
    """A real Django project in ``root/name``; returns the directory to ``--chdir`` to.

    Serve it as ``myproject.wsgi:application``. Views: ``/hello/``,
    ``/echo/`` (POST, CSRF exempt), ``/slow/?s=``, ``/whoami/``,
    ``/headers/``, ``/big/?size=``, ``/file/`` (FileResponse), ``/stream/?n=``,
    ``/boom/`` (500), ``/pid/``; anything else is Django's 404. With
    ``?footer=1`` a middleware appends to the body without fixing the
    Content-Length that CommonMiddleware set.
    """
    project = root / name
    project.mkdir(parents=True)
    run = [sys.executable, "-m", "django"]
    subprocess.run([*run, "startproject", name, str(project)], check=True, timeout=60,
                   capture_output=True)
    subprocess.run([*run, "startapp", "hello"], cwd=project, check=True, timeout=60,
                   capture_output=True)
    app = project / "hello"
    (app / "__init__.py").write_text(DJANGO_APP_INIT)
    (app / "views.py").write_text(DJANGO_VIEWS)
    (app / "urls.py").write_text(DJANGO_APP_URLS)
    (app / "middleware.py").write_text(DJANGO_MIDDLEWARE)
    (project / name / "urls.py").write_text(DJANGO_ROOT_URLS)
    with open(project / name / "settings.py", "a") as settings:
        settings.write(DJANGO_SETTINGS_TAIL)
    (project / "big.bin").write_bytes(big_file_bytes())
    return project


# --- Flask ------------------------------------------------------------------

FLASK_APP = '''\
"""The Flask app of the interop tests (written by tests/interop/interop_apps.py)."""

import hashlib
import os
import time

from flask import (Flask, Response, abort, jsonify, redirect, request, send_file, session,
                   stream_with_context, url_for)

app = Flask(__name__)
app.secret_key = "interop-tests-only"
BIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "big.bin")


@app.get("/")
def index():
    return "Hello from Flask\\n"


@app.get("/stream")
def stream():
    count = int(request.args.get("n", "5"))

    def generate():
        # Reads request.args while streaming: needs stream_with_context.
        tag = request.args.get("tag", "t")
        for i in range(count):
            yield f"{tag}-{i}\\n"

    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.get("/file")
def file():
    return send_file(BIG_FILE, mimetype="application/octet-stream")


@app.post("/json")
def json_view():
    data = request.get_json()
    return jsonify(received=data, count=len(data["items"]), total=sum(data["items"]))


@app.post("/form")
def form():
    files = {
        name: {"filename": f.filename, "sha256": hashlib.sha256(f.read()).hexdigest()}
        for name, f in request.files.items()
    }
    return jsonify(fields=request.form.to_dict(flat=False), files=files)


@app.post("/raw")
def raw():
    body = request.get_data()
    return jsonify(length=len(body), sha256=hashlib.sha256(body).hexdigest(),
                   content_length=request.headers.get("Content-Length"),
                   chunked=request.headers.get("Transfer-Encoding"))


@app.get("/session/set")
def session_set():
    session["name"] = request.args["name"]
    session["count"] = session.get("count", 0) + 1
    response = jsonify(count=session["count"])
    response.set_cookie("plain", "cookie-value", httponly=True)
    return response


@app.get("/session/get")
def session_get():
    return jsonify(name=session.get("name"), count=session.get("count"),
                   plain=request.cookies.get("plain"))


@app.get("/redirect")
def go_external():
    return redirect(url_for("target", _external=True, q="1"))


@app.get("/redirect-relative")
def go_relative():
    return redirect(url_for("target"), code=301)


@app.get("/target")
def target():
    return jsonify(arrived=True, q=request.args.get("q"))


@app.get("/scheme")
def scheme():
    return jsonify(scheme=request.scheme, url=request.url, host=request.host,
                   remote_addr=request.remote_addr,
                   forwarded_for=request.headers.get("X-Forwarded-For"))


@app.get("/sleep")
def sleep():
    seconds = float(request.args.get("s", "0.1"))
    mark_dir = request.args.get("mark")
    if mark_dir:  # lets a test see that the request reached the app
        with open(os.path.join(mark_dir, f"{os.getpid()}-{time.time_ns()}"), "w"):
            pass
    time.sleep(seconds)
    return f"slept {seconds}\\n"


@app.get("/gated")
def gated():
    """Sends one line, then waits (up to 10 s) for the test to create ``marker``."""
    marker = request.args["marker"]

    def generate():
        yield "first\\n"
        deadline = time.monotonic() + 10
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.005)
        yield "second\\n" if os.path.exists(marker) else "gave up\\n"

    response = Response(generate(), mimetype="text/plain")
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each chunk on at once
    return response


@app.get("/breaks")
def breaks():
    def generate():
        yield "x" * 1000
        raise RuntimeError("the stream broke")

    return Response(generate(), mimetype="text/plain")


@app.get("/stale-length")
def stale_length():
    """An app bug: a Content-Length shorter than the body (set by hand, left stale)."""
    response = Response("0123456789", mimetype="text/plain")
    response.headers["Content-Length"] = "4"
    return response


@app.get("/teapot")
def teapot():
    abort(418)


@app.get("/boom")
def boom():
    raise RuntimeError("boom from a Flask view")
'''


def write_flask_app(root: Path, module: str = "flaskapp") -> Path:
    """Write ``root/module.py`` (serve as ``module:app`` with ``--chdir root``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(FLASK_APP))
    (root / "big.bin").write_bytes(big_file_bytes())
    return root
