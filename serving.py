"""The gunicorn worker the API is served with (``worker_class`` in gunicorn.conf.py).

It is gunicorn's gevent worker: every connection is a greenlet, so a client that sends slowly,
or not at all, holds a few kilobytes of memory and never a worker. On top of it:

* An idle kept-alive connection is closed after ``keepalive`` seconds (KEEPALIVE_SECONDS),
  without a word.
* Once the first byte of a request has arrived, its head (request line and headers) must
  arrive within REQUEST_READ_TIMEOUT seconds, and each read of its body waits at most that
  long. Otherwise the answer is a JSON 408 and the connection is closed.
* What gunicorn's parser refuses (a broken request line, header or chunked encoding, a request
  line over 8190 bytes, headers beyond the hard caps, a TLS hello on the plain port) is
  answered in JSON, in the error shape of the version the request's path names, instead of
  gunicorn's HTML. Each refusal is one warning line in the log, without the request's bytes.
* Connections take turns: after each response the worker serves the other connections'
  waiting requests before the next one on the same connection.
* A connection whose request body the application left unread (or unreadable) is closed after
  the response rather than drained: nothing of a refused body is parsed as the next request.

The application itself never imports this module; ``api.platform.bodies`` recognises the
timeout below when a body read raises it.
"""

from __future__ import annotations

import contextlib
import gc
import re
import time
from http import HTTPStatus

import gevent
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker

# How much of a request's first bytes is kept to find the path it names (for the error shape).
_HEAD_KEPT = 8192
_REQUEST_PATH = re.compile(rb"^[A-Z]{1,20} (/[\x21-\x7e]*)")


class ClientTimeout(Exception):
    """A client did not send its request in time."""


class _Idle(ClientTimeout):
    """Nothing arrived on a connection waiting for its next request: it is closed quietly."""


class RequestTimeout(ClientTimeout):
    """A request began but did not finish arriving in time: 408."""


class DeadlineSocket:
    """The client socket as gunicorn's parser reads it, with the deadlines above.

    Waiting for a request: ``idle`` seconds. Its head: ``limit`` seconds from its first byte.
    Its body: ``limit`` seconds per read. After a timeout every later read fails at once.
    """

    def __init__(self, sock, idle: float, limit: float):
        self._sock = sock
        self._idle = idle
        self._limit = limit
        self._deadline: float | None = None  # when the head must be in; None while waiting
        self._in_body = False
        self.dead = False
        self._request = None  # the request whose body is being read
        self.head = bytearray()  # the current request's first bytes
        self._holding = False  # the next sendall is a response's head: hold it
        self._held = b""  # a response's head, sent with the first bytes of its body

    def recv(self, size: int) -> bytes:
        if self.dead:
            raise _Idle()
        if self._in_body:
            timeout = self._limit
        elif self._deadline is None:
            timeout = self._idle
        else:
            timeout = max(self._deadline - time.monotonic(), 0.001)
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(size)
        except TimeoutError:
            self.dead = True
            if self._deadline is None and not self._in_body:
                raise _Idle() from None
            if self._request is not None:
                self._request.must_close = True  # the 408 says "Connection: close"
            raise RequestTimeout() from None
        if data and not self._in_body:
            if self._deadline is None:
                self._deadline = time.monotonic() + self._limit
            if len(self.head) < _HEAD_KEPT:
                self.head += data[: _HEAD_KEPT - len(self.head)]
        return data

    def begin_body(self, request) -> None:
        """The head is parsed: body reads and the response get the per-read limit."""
        self._in_body = True
        self._request = request
        self._holding = True
        self._sock.settimeout(self._limit)

    def sendall(self, data) -> None:
        """gunicorn writes a response's head, then each piece of its body: the head waits for
        the first piece (or the end of the response, ``flush``) and leaves with it, in one
        system call and one TCP segment instead of two."""
        if self._holding:
            self._holding = False
            self._held = bytes(data)
            return
        if self._held:
            data = self._held + data
            self._held = b""
        self._sock.sendall(data)

    def flush(self) -> None:
        """Send a held response head (a response without body bytes, or one cut short)."""
        self._holding = False
        if self._held:
            held, self._held = self._held, b""
            self._sock.sendall(held)

    def send(self, data, *args):
        self.flush()
        return self._sock.send(data, *args)

    def sendfile(self, *args, **kwargs):
        self.flush()
        return self._sock.sendfile(*args, **kwargs)

    def fileno(self) -> int:
        self.flush()
        return self._sock.fileno()

    def end_request(self) -> None:
        self._holding = False
        self._held = b""
        self._in_body = False
        self._request = None
        self._deadline = None
        self.head.clear()

    def __getattr__(self, name):
        return getattr(self._sock, name)


# What gunicorn's parser raises, as the status gunicorn itself would answer and our reason.
_REFUSALS: tuple[tuple[type[Exception], int, str, str], ...] = (
    (RequestTimeout, 408, "request_timeout", "The request did not arrive in time"),
    (http_errors.LimitRequestLine, 414, "uri_too_long", "The request line is too long"),
    (http_errors.LimitRequestHeaders, 431, "headers_too_large", "Request headers are too large"),
    (
        http_errors.UnsupportedTransferCoding,
        501,
        "unsupported_transfer_coding",
        "The request's Transfer-Encoding is not supported",
    ),
    (http_errors.ExpectationFailed, 417, "expectation_failed", "Expect is not supported"),
    (
        http_errors.ParseException,
        400,
        "malformed_request",
        "The request could not be parsed (request line, headers or chunked encoding)",
    ),
)


def refusal(error: Exception) -> tuple[int, str, str] | None:
    """(status, reason, message) for a request the server cannot parse, else None."""
    if isinstance(error, (http_errors.InvalidResponseHeader, http_errors.ConfigurationProblem)):
        return None  # the application's or the operator's fault, not the client's
    for kind, status, reason, message in _REFUSALS:
        if isinstance(error, kind):
            return status, reason, message
    return None


def request_path(head: bytes) -> str:
    """The path a request's first bytes name, without its query; "/api" when there is none."""
    found = _REQUEST_PATH.match(bytes(head))
    if not found:
        return "/api"
    return found.group(1).decode("ascii").split("?", 1)[0].split("#", 1)[0]


class SettledConfig:
    """gunicorn's configuration as a worker serves with it: each setting read once.

    gunicorn reads its settings through ``Config.__getattr__`` (a dictionary look-up and a
    method call) some twenty times per request; in a running worker they no longer change, so
    the first read of each is kept as a plain attribute. Everything else (properties, methods,
    ``settings``) is the configuration's own."""

    def __init__(self, cfg):
        self._cfg = cfg

    def __getattr__(self, name):
        if name == "_cfg":  # not set yet (a copy being made): no configuration to ask
            raise AttributeError(name)
        value = getattr(self._cfg, name)
        if name in self._cfg.settings:
            self.__dict__[name] = value
        return value


class Worker(GeventWorker):
    """gunicorn's gevent worker with deadlines for slow clients and JSON for what it refuses."""

    def load_wsgi(self):
        super().load_wsgi()
        self.cfg = SettledConfig(self.cfg)
        config = getattr(self.wsgi, "config", {})
        self.read_timeout = float(config.get("REQUEST_READ_TIMEOUT", 10))
        freeze_startup_objects()

    def timeout_ctx(self):
        return contextlib.nullcontext()  # the socket keeps the deadlines

    def handle(self, listener, client, addr):
        idle = self.cfg.keepalive or self.read_timeout
        super().handle(listener, DeadlineSocket(client, idle, self.read_timeout), addr)

    def handle_request(self, listener_name, req, sock, addr):
        sock.begin_body(req)
        try:
            try:
                super().handle_request(listener_name, req, sock, addr)
            finally:
                _flush(sock)  # before anything that may wait on the client
            if not sock.dead and not _body_consumed(req):
                sock.dead = True  # closed after this response rather than drained
        finally:
            sock.end_request()
        # gevent switches greenlets only when a socket would block: a client whose next request
        # is already waiting would be served again and again while the other connections wait
        # (a p99 in seconds under load). Each connection gets one request at a time: a client
        # on another core sends its next request while this one's answer is still being
        # finished, so even one that waits for each answer would find it already there.
        gevent.sleep(0)

    def handle_error(self, req, client, addr, exc):
        if isinstance(exc, _Idle):
            return
        refused = refusal(exc)
        if refused is None:
            super().handle_error(req, client, addr, exc)
            return
        status, reason, message = refused
        ip = addr[0] if addr else ""
        self.log.warning("Refused a request from ip=%s: %d %s", ip, status, reason)
        head = getattr(client, "head", b"")
        try:
            body = self._render(status, message, reason, request_path(head))
            phrase = HTTPStatus(status).phrase
            client.sendall(
                f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
                + body
            )
        except (OSError, ClientTimeout):
            pass  # the client is gone: nothing to tell it

    def _render(self, status: int, message: str, reason: str, path: str) -> bytes:
        """The application's own JSON error for ``path`` (so, in its version's shape)."""
        from api.platform.errors import render_error

        try:
            with self.wsgi.test_request_context(path):
                return render_error(status, message, reason=reason).get_data()
        except Exception:  # a path no request context takes: the unversioned shape
            with self.wsgi.test_request_context("/api"):
                return render_error(status, message, reason=reason).get_data()


def freeze_startup_objects() -> int:
    """Move everything alive once the app is loaded (modules, the app, its metadata and
    schemas: most of a worker's objects) out of the garbage collector's sight.

    They live as long as the worker, yet every full collection walked them all: about 30 ms
    twice in ten seconds of POSTs, during which every connection waited. Returns how many
    objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _flush(sock: DeadlineSocket) -> None:
    """Send the response's held head, if any; a client that is gone ends the connection."""
    try:
        sock.flush()
    except OSError:
        sock.dead = True


def _body_consumed(req) -> bool:
    """Whether the application read the request's whole body (reading at most one byte)."""
    try:
        return req.body.read(1) == b""
    except Exception:
        return False
