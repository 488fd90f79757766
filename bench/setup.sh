#!/usr/bin/env bash
# Install what the benchmark needs, then check it.  Safe to run again.
#
#   Debian packages (only the missing ones; needs root or sudo):
#     wrk          the load generator
#     nginx-light  the reverse proxy of scenario d
#     gcc          uWSGI is built from source by pip
#     util-linux   taskset (pins the server and wrk to separate cores)
#   bench/.venv (no root needed):
#     workhorse    this checkout, editable: the benchmark runs the repo's code
#     gunicorn, waitress, granian, uvicorn[standard] (httptools + uvloop), uwsgi
#     django       the project of django_memory.py and startup.py (bench/django/)
#
# A peer server that fails to install is reported at the end and then skipped
# by run.py; the script fails only if workhorse itself cannot be installed.
set -euo pipefail
cd "$(dirname "$0")"

# --- Debian packages -------------------------------------------------------
need=""
command -v wrk >/dev/null 2>&1 || need="$need wrk"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
command -v taskset >/dev/null 2>&1 || need="$need util-linux"
if [ -n "$need" ]; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
    fi
    if [ "$SUDO" = "none" ]; then
        echo "setup: not root and no sudo: install these Debian packages by hand:$need" >&2
    else
        had_nginx=0
        { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } && had_nginx=1
        $SUDO apt-get update -qq
        # shellcheck disable=SC2086  # $need is a list of words
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            $need >/dev/null
        # Debian starts the packaged nginx on port 80; the benchmark runs its own.
        if [ "$had_nginx" = 0 ]; then
            $SUDO systemctl stop nginx >/dev/null 2>&1 || true
            if [ -s /run/nginx.pid ]; then $SUDO kill "$(cat /run/nginx.pid)" 2>/dev/null || true; fi
        fi
    fi
fi

# --- the virtualenv --------------------------------------------------------
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(nice -n 10 .venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" -e '..[gevent]'   # workhorse from this checkout, with gevent for its gevent rows
# An editable install writes no bytecode, and this machine sets
# PYTHONDONTWRITEBYTECODE: compile it now, as a normal `pip install` would,
# or every start would compile the sources and the start-up times would lie.
.venv/bin/python -m compileall -q ../src/workhorse

failed=()
for pkg in gunicorn packaging waitress granian 'uvicorn[standard]' uwsgi 'django>=5.2,<5.3'; do
    "${PIP[@]}" "$pkg" || failed+=("$pkg")
done

echo
.venv/bin/python run.py --list
if [ ${#failed[@]} -gt 0 ]; then
    echo "setup: FAILED to install: ${failed[*]} (run.py skips those servers)" >&2
else
    echo "setup: every server installed"
fi
