"""gunicorn settings for the Book API (read from the working directory); flags override them."""

import os

from core.startup import check_environment

# The master checks the configuration before it binds or forks: a refusal is one line, once.
check_environment()

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Headers up to 32 KiB reach the app, which refuses more than MAX_HEADER_BYTES (16 KiB by
# default) with a JSON 431; gunicorn itself answers 400 beyond these limits.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 32768
# The app logs one JSON line per request on stderr; no second access log.
accesslog = None
# gunicorn's control socket (runtime management) is off unless GUNICORN_CONTROL_SOCKET names
# this server's own path: several servers on one machine never share one socket.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket


def worker_exit(server, worker):
    """A worker that stops (SIGTERM, a reload, max_requests) flushes its usage counts first."""
    from api.platform import usage

    usage.flush_all()
