"""Server Mechanics: process identity, environment, proxies and HTTP leniency."""

# setting() returns a dataclasses.field (a copied default for lists and dicts).
# ruff: noqa: RUF009

from __future__ import annotations

import os
from dataclasses import dataclass

from workhorse.config import converters as c
from workhorse.config.registry import Support, setting

SECTION = "Server Mechanics"

_LOCAL = ["127.0.0.1", "::1"]
_NO_UWSGI = "workhorse speaks HTTP only; the uWSGI binary protocol is not implemented"


@dataclass(init=False, repr=False, eq=False)
class ServerMechanics:
    preload_app: bool = setting(
        False,
        section=SECTION,
        flags=("--preload",),
        action="store_true",
        convert=c.boolean,
        help="Load the application in the master before forking the workers.",
        details=(
            "Workers start faster and share the loaded code's memory, but a"
            " reload (HUP) cannot pick up new application code."
        ),
    )
    warmup: list[str] = setting(
        [],
        section=SECTION,
        flags=("--warmup",),
        action="append",
        metavar="PATH",
        convert=c.warmup_paths,
        support=Support.NEW,
        help="With preload_app, GET each PATH in the master before forking (warmup; repeatable).",
        details=(
            "What the app builds on its first requests (Django: URL resolver, compiled"
            " templates, translations, lazily imported views) is then built once and"
            " shared by every worker instead of once per worker (see docs/performance.md,"
            " 'Memory of a Django fleet'). The app is called directly, without a socket,"
            " with the environ a worker would build for a GET of PATH on the first"
            " listener: the listener's address as Host (localhost for a wildcard or a"
            " Unix socket), root_path as SCRIPT_NAME; give a full URL"
            " (https://example.com/path) to send another Host and scheme. A request that"
            " fails or answers 5xx is logged and the start goes on. The start fails if a"
            " warm-up request leaves a file descriptor (a database connection: close it,"
            " e.g. in when_ready) or a thread behind, since every worker would share it."
            " Without preload_app, or with the asgi worker, it is ignored with a warning."
        ),
    )
    sendfile: bool = setting(
        True,
        section=SECTION,
        flags=("--no-sendfile",),
        action="store_const",
        const=False,
        env="SENDFILE",
        from_env=c.sendfile_from_env,
        convert=c.sendfile_flag,
        default_doc="True; if SENDFILE is set, True only when it is y, 1, yes or true",
        help="Use sendfile(2) for file responses (wsgi.file_wrapper); the flag turns it off.",
    )
    reuse_port: bool = setting(
        False,
        section=SECTION,
        flags=("--reuse-port",),
        action="store_true",
        convert=c.boolean,
        help="Set SO_REUSEPORT on the listening sockets.",
    )
    chdir: str = setting(
        ".",
        section=SECTION,
        flags=("--chdir",),
        convert=c.directory,
        anchored=True,
        default_doc="the working directory at start",
        help="Directory to change to before loading the application.",
        details="A relative path is taken from the working directory at start.",
    )
    daemon: bool = setting(
        False,
        section=SECTION,
        flags=("-D", "--daemon"),
        action="store_true",
        convert=c.boolean,
        help="Detach from the terminal and run in the background.",
    )
    raw_env: list[str] = setting(
        [],
        section=SECTION,
        flags=("-e", "--env"),
        action="append",
        metavar="ENV",
        convert=c.env_assignments,
        help="Set an environment variable for the workers: -e KEY=VALUE (repeatable).",
    )
    pidfile: str | None = setting(
        None,
        section=SECTION,
        flags=("-p", "--pid"),
        metavar="FILE",
        convert=c.optional_string,
        help="File to write the master's process id to.",
    )
    worker_tmp_dir: str | None = setting(
        None,
        section=SECTION,
        flags=("--worker-tmp-dir",),
        metavar="DIR",
        convert=c.optional_string,
        support=Support.ACCEPTED,
        note=(
            "not needed: workhorse's worker heartbeat lives in shared memory,"
            " not in a temporary file, so there is no directory to choose"
        ),
        help="Directory for Gunicorn's heartbeat files.",
    )
    user: int = setting(
        None,
        section=SECTION,
        flags=("-u", "--user"),
        metavar="USER",
        convert=c.user,
        default_factory=os.geteuid,
        default_doc="the effective user id at start",
        help="Run the workers as this user (a name or a numeric uid).",
    )
    group: int = setting(
        None,
        section=SECTION,
        flags=("-g", "--group"),
        metavar="GROUP",
        convert=c.group,
        default_factory=os.getegid,
        default_doc="the effective group id at start",
        help="Run the workers as this group (a name or a numeric gid).",
    )
    umask: int = setting(
        0,
        section=SECTION,
        flags=("-m", "--umask"),
        metavar="INT",
        convert=c.file_mode,
        help="File mode creation mask of the workhorse processes, e.g. 022 (octal).",
    )
    initgroups: bool = setting(
        False,
        section=SECTION,
        flags=("--initgroups",),
        action="store_true",
        convert=c.boolean,
        help="Also give the workers the supplementary groups of their user.",
    )
    tmp_upload_dir: str | None = setting(
        None,
        section=SECTION,
        metavar="DIR",
        convert=c.optional_string,
        support=Support.ACCEPTED,
        note="request bodies are not spooled to disk (Gunicorn does not use it either)",
        help="Directory for spooled request bodies.",
    )
    secure_scheme_headers: dict[str, str] = setting(
        {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"},
        section=SECTION,
        convert=c.string_dict,
        help="Headers (upper-case name -> exact value) by which a trusted proxy marks HTTPS.",
        details=(
            "Only requests from `forwarded_allow_ips` are considered. When one"
            " listed header matches, `wsgi.url_scheme` is `https`; when listed"
            " headers disagree, the request is refused. Make sure the proxy"
            " removes these headers from what clients send."
        ),
    )
    forwarded_allow_ips: list[str] = setting(
        _LOCAL,
        section=SECTION,
        flags=("--forwarded-allow-ips",),
        metavar="STRING",
        env="FORWARDED_ALLOW_IPS",
        convert=c.address_list,
        default_doc="127.0.0.1,::1, or $FORWARDED_ALLOW_IPS when set",
        help="Proxies trusted to set forwarded headers: IPs or CIDR networks, or * for any.",
        details=(
            "Applies to `secure_scheme_headers` and `forwarder_headers`."
            " Connections over UNIX sockets are always trusted."
        ),
    )
    pythonpath: str | None = setting(
        None,
        section=SECTION,
        flags=("--pythonpath",),
        metavar="STRING",
        convert=c.optional_string,
        help="Comma-separated directories to put in front of sys.path.",
    )
    paste: str | None = setting(
        None,
        section=SECTION,
        flags=("--paste", "--paster"),
        metavar="STRING",
        convert=c.optional_string,
        help="Load the application from a PasteDeploy ini file: PATH, or PATH#APP_NAME.",
        details=(
            "Needs PasteDeploy (`pip install 'workhorse[paste]'`). The app is the ini's"
            " `[app:main]` section (or the one named after `#`), loaded with the"
            " `--paste-global` variables as its global_conf and the working directory"
            " as `relative_to`; APP_MODULE is then ignored and the processes are named"
            " after the ini file. An ini with a `[loggers]` section is also the"
            " `logconfig`, unless a logging config is given. `[server:*]` sections are"
            " not read, as in Gunicorn: server settings come from the command line and"
            " the config file. Unlike Gunicorn, which only honours `--paste` on the"
            " command line, the setting works from every source."
        ),
    )
    proxy_protocol: str = setting(
        "off",
        section=SECTION,
        flags=("--proxy-protocol",),
        metavar="MODE",
        nargs="?",
        const="auto",
        convert=c.proxy_protocol,
        help="Accept the PROXY protocol header: off, v1, v2 or auto (the bare flag).",
        details="Only from the peers in `proxy_allow_ips`.",
    )
    proxy_allow_ips: list[str] = setting(
        _LOCAL,
        section=SECTION,
        flags=("--proxy-allow-from",),
        metavar="STRING",
        convert=c.address_list,
        default_doc="127.0.0.1,::1",
        help="Peers allowed to send a PROXY header: IPs or CIDR networks, or * for any.",
    )
    protocol: str = setting(
        "http",
        section=SECTION,
        flags=("--protocol",),
        metavar="STRING",
        convert=c.protocol,
        support=Support.ACCEPTED,
        note=_NO_UWSGI,
        help="Protocol spoken on the listening sockets: http or uwsgi.",
    )
    uwsgi_allow_ips: list[str] = setting(
        _LOCAL,
        section=SECTION,
        flags=("--uwsgi-allow-from",),
        metavar="STRING",
        convert=c.address_list,
        support=Support.ACCEPTED,
        note=_NO_UWSGI,
        default_doc="127.0.0.1,::1",
        help="Peers allowed to send uWSGI protocol requests.",
    )
    raw_paste_global_conf: list[str] = setting(
        [],
        section=SECTION,
        flags=("--paste-global",),
        action="append",
        metavar="CONF",
        convert=c.paste_assignments,
        help="Global variables for a PasteDeploy ini file: KEY=VALUE (repeatable).",
    )
    permit_obsolete_folding: bool = setting(
        False,
        section=SECTION,
        flags=("--permit-obsolete-folding",),
        action="store_true",
        convert=c.boolean,
        help="Accept header values continued on the next line (obsolete line folding).",
    )
    strip_header_spaces: bool = setting(
        False,
        section=SECTION,
        flags=("--strip-header-spaces",),
        action="store_true",
        convert=c.boolean,
        help="Accept whitespace between a header name and its colon (unsafe).",
        details="Known to enable request smuggling behind some proxies. Use only to diagnose.",
    )
    permit_unconventional_http_method: bool = setting(
        False,
        section=SECTION,
        flags=("--permit-unconventional-http-method",),
        action="store_true",
        convert=c.boolean,
        help="Accept methods outside the usual form (3-20 upper-case letters).",
    )
    permit_unconventional_http_version: bool = setting(
        False,
        section=SECTION,
        flags=("--permit-unconventional-http-version",),
        action="store_true",
        convert=c.boolean,
        help="Accept HTTP/1.x versions other than 1.0 and 1.1.",
    )
    casefold_http_method: bool = setting(
        False,
        section=SECTION,
        flags=("--casefold-http-method",),
        action="store_true",
        convert=c.boolean,
        help="Upper-case request methods before passing them on.",
    )
    forwarder_headers: list[str] = setting(
        ["SCRIPT_NAME", "PATH_INFO"],
        section=SECTION,
        flags=("--forwarder-headers",),
        metavar="STRING",
        convert=c.comma_list,
        default_doc="SCRIPT_NAME,PATH_INFO",
        help="Headers from trusted proxies copied into the WSGI environ (comma-separated).",
        details=(
            "Typical: SCRIPT_NAME, PATH_INFO, REMOTE_USER. Only honoured for"
            " peers in `forwarded_allow_ips`; they bypass `header_map`."
        ),
    )
    header_map: str = setting(
        "drop",
        section=SECTION,
        flags=("--header-map",),
        metavar="STRING",
        convert=c.choice("drop", "refuse", "dangerous", none="drop"),
        help="Headers whose names map to the same environ key: drop, refuse (400) or dangerous.",
        details=(
            "`X-Foo_Bar` and `X-Foo-Bar` both become `HTTP_X_FOO_BAR`. `drop`"
            " ignores headers with underscores, `refuse` answers 400, `dangerous`"
            " passes both through as older servers did."
        ),
    )
    root_path: str = setting(
        "",
        section=SECTION,
        flags=("--root-path",),
        metavar="STRING",
        convert=c.string_or("", "none"),
        help="Path prefix the application is mounted at: the ASGI scope's root_path, and "
             "the SCRIPT_NAME of every WSGI request.",
        details=(
            "For ASGI apps as in Gunicorn and uvicorn (scope `root_path`). Gunicorn"
            " gives it to ASGI apps only; workhorse gives WSGI apps the same thing as"
            " SCRIPT_NAME. Unset, SCRIPT_NAME comes from the SCRIPT_NAME environment"
            " variable, as in Gunicorn."
        ),
    )
