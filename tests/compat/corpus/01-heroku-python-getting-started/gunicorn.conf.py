import os

bind = ["[::]:{}".format(os.environ.get("PORT", 5006))]
worker_class = "gthread"
workers = os.environ.get("WEB_CONCURRENCY", 1)
threads = 5
timeout = 20
graceful_timeout = 20
keepalive = 95
accesslog = "-"
access_log_format = 'gunicorn method=%(m)s path="%(U)s" status=%(s)s duration=%(M)sms request_id=%({x-request-id}i)s fwd="%({x-forwarded-for}i)s" user_agent="%(a)s"'

if os.environ.get("ENVIRONMENT") == "development":
    reload = True
else:
    preload_app = True
    reuse_port = True
    forwarded_allow_ips = "*"
