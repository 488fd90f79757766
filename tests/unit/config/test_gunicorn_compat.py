"""Gunicorn 27.0's 120 settings: every one exists here with the same flags and action.

The table is data taken from Gunicorn 26.2 (name, command-line flags, argparse
action) plus the one setting 27.0 added (websocket_max_message_size); it is
the compatibility contract, so it is written out, not imported.
"""

from __future__ import annotations

from workhorse.config import Config, Support, iter_settings

GUNICORN_27_SETTINGS: list[tuple[str, tuple[str, ...], str | None]] = [
    ("config", ("-c", "--config"), None),
    ("wsgi_app", (), None),
    ("control_socket", ("--control-socket",), None),
    ("control_socket_mode", ("--control-socket-mode",), None),
    ("control_socket_disable", ("--no-control-socket",), "store_true"),
    ("reload", ("--reload",), "store_true"),
    ("reload_engine", ("--reload-engine",), None),
    ("reload_extra_files", ("--reload-extra-file",), "append"),
    ("spew", ("--spew",), "store_true"),
    ("check_config", ("--check-config",), "store_true"),
    ("print_config", ("--print-config",), "store_true"),
    ("on_dirty_starting", (), None),
    ("dirty_post_fork", (), None),
    ("dirty_worker_init", (), None),
    ("dirty_worker_exit", (), None),
    ("dirty_apps", ("--dirty-app",), "append"),
    ("dirty_workers", ("--dirty-workers",), None),
    ("dirty_timeout", ("--dirty-timeout",), None),
    ("dirty_threads", ("--dirty-threads",), None),
    ("dirty_graceful_timeout", ("--dirty-graceful-timeout",), None),
    ("http_protocols", ("--http-protocols",), None),
    ("http2_cleartext", ("--http2-cleartext",), None),
    ("http2_max_concurrent_streams", ("--http2-max-concurrent-streams",), None),
    ("http2_initial_window_size", ("--http2-initial-window-size",), None),
    ("http2_max_frame_size", ("--http2-max-frame-size",), None),
    ("http2_max_header_list_size", ("--http2-max-header-list-size",), None),
    ("accesslog", ("--access-logfile",), None),
    ("disable_redirect_access_to_syslog", ("--disable-redirect-access-to-syslog",), "store_true"),
    ("access_log_format", ("--access-logformat",), None),
    ("errorlog", ("--error-logfile", "--log-file"), None),
    ("loglevel", ("--log-level",), None),
    ("capture_output", ("--capture-output",), "store_true"),
    ("logger_class", ("--logger-class",), None),
    ("logconfig", ("--log-config",), None),
    ("logconfig_dict", (), None),
    ("logconfig_json", ("--log-config-json",), None),
    ("syslog_addr", ("--log-syslog-to",), None),
    ("syslog", ("--log-syslog",), "store_true"),
    ("syslog_prefix", ("--log-syslog-prefix",), None),
    ("syslog_facility", ("--log-syslog-facility",), None),
    ("enable_stdio_inheritance", ("-R", "--enable-stdio-inheritance"), "store_true"),
    ("statsd_host", ("--statsd-host",), None),
    ("dogstatsd_tags", ("--dogstatsd-tags",), None),
    ("statsd_prefix", ("--statsd-prefix",), None),
    ("enable_backlog_metric", ("--enable-backlog-metric",), "store_true"),
    ("proc_name", ("-n", "--name"), None),
    ("default_proc_name", (), None),
    ("keyfile", ("--keyfile",), None),
    ("certfile", ("--certfile",), None),
    ("ssl_version", ("--ssl-version",), None),
    ("cert_reqs", ("--cert-reqs",), None),
    ("ca_certs", ("--ca-certs",), None),
    ("suppress_ragged_eofs", ("--suppress-ragged-eofs",), "store_true"),
    ("do_handshake_on_connect", ("--do-handshake-on-connect",), "store_true"),
    ("ciphers", ("--ciphers",), None),
    ("limit_request_line", ("--limit-request-line",), None),
    ("limit_request_fields", ("--limit-request-fields",), None),
    ("limit_request_field_size", ("--limit-request-field_size",), None),
    ("on_starting", (), None),
    ("on_reload", (), None),
    ("when_ready", (), None),
    ("pre_fork", (), None),
    ("post_fork", (), None),
    ("post_worker_init", (), None),
    ("worker_int", (), None),
    ("worker_abort", (), None),
    ("pre_exec", (), None),
    ("pre_request", (), None),
    ("post_request", (), None),
    ("child_exit", (), None),
    ("worker_exit", (), None),
    ("nworkers_changed", (), None),
    ("on_exit", (), None),
    ("ssl_context", (), None),
    ("preload_app", ("--preload",), "store_true"),
    ("sendfile", ("--no-sendfile",), "store_const"),
    ("reuse_port", ("--reuse-port",), "store_true"),
    ("chdir", ("--chdir",), None),
    ("daemon", ("-D", "--daemon"), "store_true"),
    ("raw_env", ("-e", "--env"), "append"),
    ("pidfile", ("-p", "--pid"), None),
    ("worker_tmp_dir", ("--worker-tmp-dir",), None),
    ("user", ("-u", "--user"), None),
    ("group", ("-g", "--group"), None),
    ("umask", ("-m", "--umask"), None),
    ("initgroups", ("--initgroups",), "store_true"),
    ("tmp_upload_dir", (), None),
    ("secure_scheme_headers", (), None),
    ("forwarded_allow_ips", ("--forwarded-allow-ips",), None),
    ("pythonpath", ("--pythonpath",), None),
    ("paste", ("--paste", "--paster"), None),
    ("proxy_protocol", ("--proxy-protocol",), None),
    ("proxy_allow_ips", ("--proxy-allow-from",), None),
    ("protocol", ("--protocol",), None),
    ("uwsgi_allow_ips", ("--uwsgi-allow-from",), None),
    ("raw_paste_global_conf", ("--paste-global",), "append"),
    ("permit_obsolete_folding", ("--permit-obsolete-folding",), "store_true"),
    ("strip_header_spaces", ("--strip-header-spaces",), "store_true"),
    ("permit_unconventional_http_method", ("--permit-unconventional-http-method",), "store_true"),
    ("permit_unconventional_http_version", ("--permit-unconventional-http-version",), "store_true"),
    ("casefold_http_method", ("--casefold-http-method",), "store_true"),
    ("forwarder_headers", ("--forwarder-headers",), None),
    ("header_map", ("--header-map",), None),
    ("root_path", ("--root-path",), None),
    ("bind", ("-b", "--bind"), "append"),
    ("backlog", ("--backlog",), None),
    ("workers", ("-w", "--workers"), None),
    ("worker_class", ("-k", "--worker-class"), None),
    ("threads", ("--threads",), None),
    ("worker_connections", ("--worker-connections",), None),
    ("max_requests", ("--max-requests",), None),
    ("max_requests_jitter", ("--max-requests-jitter",), None),
    ("timeout", ("-t", "--timeout"), None),
    ("graceful_timeout", ("--graceful-timeout",), None),
    ("keepalive", ("--keep-alive",), None),
    ("asgi_loop", ("--asgi-loop",), None),
    ("asgi_lifespan", ("--asgi-lifespan",), None),
    ("asgi_disconnect_grace_period", ("--asgi-disconnect-grace-period",), None),
    ("websocket_max_message_size", ("--websocket-max-message-size",), None),
    ("http_parser", ("--http-parser",), None),
]

#: Gunicorn 26.2's defaults as it stores them before conversion; settings whose
#: default depends on the machine or that workhorse changes on purpose
#: (chdir, user, group, control_socket, default_proc_name) are tested elsewhere.
GUNICORN_26_DEFAULTS: dict[str, object] = {
    "config": "./gunicorn.conf.py",
    "wsgi_app": None,
    "control_socket_mode": 384,
    "control_socket_disable": False,
    "reload": False,
    "reload_engine": "auto",
    "reload_extra_files": [],
    "spew": False,
    "check_config": False,
    "print_config": False,
    "dirty_apps": [],
    "dirty_workers": 0,
    "dirty_timeout": 300,
    "dirty_threads": 1,
    "dirty_graceful_timeout": 30,
    "http_protocols": "h1",
    "http2_cleartext": "off",
    "http2_max_concurrent_streams": 100,
    "http2_initial_window_size": 65535,
    "http2_max_frame_size": 16384,
    "http2_max_header_list_size": 65536,
    "accesslog": None,
    "disable_redirect_access_to_syslog": False,
    "access_log_format": '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
    "errorlog": "-",
    "loglevel": "info",
    "capture_output": False,
    "logger_class": "gunicorn.glogging.Logger",
    "logconfig": None,
    "logconfig_dict": {},
    "logconfig_json": None,
    "syslog_addr": "udp://localhost:514",
    "syslog": False,
    "syslog_prefix": None,
    "syslog_facility": "user",
    "enable_stdio_inheritance": False,
    "statsd_host": None,
    "dogstatsd_tags": "",
    "statsd_prefix": "",
    "enable_backlog_metric": False,
    "proc_name": None,
    "keyfile": None,
    "certfile": None,
    "ca_certs": None,
    "suppress_ragged_eofs": True,
    "do_handshake_on_connect": False,
    "ciphers": None,
    "limit_request_line": 4094,
    "limit_request_fields": 100,
    "limit_request_field_size": 8190,
    "preload_app": False,
    "sendfile": None,
    "reuse_port": False,
    "daemon": False,
    "raw_env": [],
    "pidfile": None,
    "worker_tmp_dir": None,
    "umask": 0,
    "initgroups": False,
    "tmp_upload_dir": None,
    "secure_scheme_headers": {
        "X-FORWARDED-PROTOCOL": "ssl",
        "X-FORWARDED-PROTO": "https",
        "X-FORWARDED-SSL": "on",
    },
    "forwarded_allow_ips": "127.0.0.1,::1",
    "pythonpath": None,
    "paste": None,
    "proxy_protocol": "off",
    "proxy_allow_ips": "127.0.0.1,::1",
    "protocol": "http",
    "uwsgi_allow_ips": "127.0.0.1,::1",
    "raw_paste_global_conf": [],
    "permit_obsolete_folding": False,
    "strip_header_spaces": False,
    "permit_unconventional_http_method": False,
    "permit_unconventional_http_version": False,
    "casefold_http_method": False,
    "forwarder_headers": "SCRIPT_NAME,PATH_INFO",
    "header_map": "drop",
    "root_path": "",
    "bind": ["127.0.0.1:8000"],
    "backlog": 2048,
    "workers": 1,
    "worker_class": "sync",
    "threads": 1,
    "worker_connections": 1000,
    "max_requests": 0,
    "max_requests_jitter": 0,
    "timeout": 30,
    "graceful_timeout": 30,
    "keepalive": 2,
    "asgi_loop": "auto",
    "asgi_lifespan": "auto",
    "asgi_disconnect_grace_period": 3,
    "websocket_max_message_size": 16777216,
    "http_parser": "auto",
}

SETTINGS = {info.name: info for info in iter_settings(Config)}


def test_table_has_120_distinct_settings() -> None:
    assert len({name for name, _, _ in GUNICORN_27_SETTINGS}) == 120


def test_every_gunicorn_setting_exists() -> None:
    missing = [name for name, _, _ in GUNICORN_27_SETTINGS if name not in SETTINGS]
    assert missing == []


def test_every_gunicorn_flag_is_spelled_the_same() -> None:
    wrong = {
        name: (flags, SETTINGS[name].spec.flags)
        for name, flags, _ in GUNICORN_27_SETTINGS
        if SETTINGS[name].spec.flags != flags
    }
    assert wrong == {}


def test_every_gunicorn_flag_has_the_same_action() -> None:
    wrong = {
        name: (action, SETTINGS[name].spec.action)
        for name, _, action in GUNICORN_27_SETTINGS
        if SETTINGS[name].spec.action != (action or "store")
    }
    assert wrong == {}


def test_gunicorn_settings_are_full_or_accepted() -> None:
    new = [
        name for name, _, _ in GUNICORN_27_SETTINGS if SETTINGS[name].spec.support is Support.NEW
    ]
    assert new == []


def test_settings_beyond_gunicorns_are_marked_new() -> None:
    gunicorn = {name for name, _, _ in GUNICORN_27_SETTINGS}
    ours = {name for name, info in SETTINGS.items() if name not in gunicorn}
    assert all(SETTINGS[name].spec.support is Support.NEW for name in ours)
    assert ours == {
        "boot_timeout",
        "boot_backoff_max",
        "max_worker_memory",
        "timeout_stack_dump",
        "limit_request_body",
        "header_timeout",
        "body_timeout",
        "send_timeout",
        "request_id_header",
        "metrics_bind",
        "blocked_loop_timeout",
        "max_boot_failures",
        "boot_failure_unhealthy_after",
        "shutdown_delay",
        "max_queue_time",
        "warmup",
    }


def test_proxy_protocol_flag_takes_an_optional_mode() -> None:
    spec = SETTINGS["proxy_protocol"].spec
    assert (spec.nargs, spec.const) == ("?", "auto")


def test_no_sendfile_stores_false() -> None:
    spec = SETTINGS["sendfile"].spec
    assert (spec.action, spec.const) == ("store_const", False)


def test_defaults_are_gunicorns_after_conversion() -> None:
    wrong = {
        name: (default, SETTINGS[name].default_value())
        for name, default in GUNICORN_26_DEFAULTS.items()
        if SETTINGS[name].spec.convert(default) != SETTINGS[name].default_value()
    }
    assert wrong == {}


def test_gunicorn_defaults_of_ssl_enums() -> None:
    assert SETTINGS["ssl_version"].default_value() == 2  # ssl.PROTOCOL_TLS
    assert SETTINGS["cert_reqs"].default_value() == 0  # ssl.CERT_NONE
