"""gunicorn settings for the Book API (read from the working directory); flags override them."""

import os

from core.startup import check_environment

# The master checks the configuration before it binds or forks: a refusal is one line, once.
app_settings = check_environment()  # not "config": that name is a gunicorn setting

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gevent workers (serving.Worker): a connection is a greenlet, so slow or idle clients never
# hold a worker; the worker closes what does not arrive in time (REQUEST_READ_TIMEOUT, 408)
# and answers what gunicorn cannot parse in JSON. Each worker serves up to
# WORKER_CONNECTIONS connections at once; database work waits for one of the pool's
# connections (SQLAlchemy's default of 5, and 10 beyond) as it would in threads.
worker_class = "serving.Worker"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
keepalive = app_settings["KEEPALIVE_SECONDS"]
# The app refuses headers over MAX_HEADER_BYTES in total (16 KiB by default) with a JSON 431 in
# the version's shape: gunicorn lets through header lines up to four times that (64 KiB) and up
# to 256 of them, so that answer is the one clients meet. Beyond (a hard cap on what a worker
# buffers: 256 lines of 64 KiB, 16 MiB) gunicorn answers 431 itself, in HTML, as it does a
# request line over 8190 bytes (414, its maximum) and its own parse errors (400).
HEADER_LINES = 256
limit_request_line = 8190
limit_request_fields = HEADER_LINES
limit_request_field_size = 4 * app_settings["MAX_HEADER_BYTES"]
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
