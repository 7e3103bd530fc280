"""serving.Worker's start: the loaded app's objects are frozen out of the garbage collector."""

from __future__ import annotations

import gc
from types import SimpleNamespace

from gunicorn.workers.ggevent import GeventWorker

import serving


def test_the_startup_objects_are_frozen_and_a_full_collection_skips_them():
    try:
        frozen = serving.freeze_startup_objects()
        assert frozen > 1000 and gc.get_freeze_count() > 1000  # modules, the app: most objects
        assert len(gc.get_objects(generation=2)) < frozen
    finally:
        gc.unfreeze()


def test_a_worker_freezes_once_it_has_loaded_the_app(monkeypatch, app):
    calls = []
    monkeypatch.setattr(GeventWorker, "load_wsgi", lambda self: setattr(self, "wsgi", app))
    monkeypatch.setattr(serving, "freeze_startup_objects", lambda: calls.append("frozen") or 1)
    worker = serving.Worker.__new__(serving.Worker)  # no arbiter or sockets needed
    worker.cfg = SimpleNamespace()
    worker.load_wsgi()
    assert calls == ["frozen"]
    assert worker.read_timeout == float(app.config["REQUEST_READ_TIMEOUT"])


class _RecordingSocket:
    def __init__(self):
        self.calls: list[tuple[str, bytes]] = []

    def settimeout(self, timeout):
        pass

    def sendall(self, data):
        self.calls.append(("sendall", bytes(data)))

    def send(self, data, *args):
        self.calls.append(("send", bytes(data)))
        return len(data)

    def fileno(self):
        return 99


def _responding() -> tuple[serving.DeadlineSocket, _RecordingSocket]:
    raw = _RecordingSocket()
    sock = serving.DeadlineSocket(raw, idle=5, limit=5)
    sock.begin_body(SimpleNamespace(must_close=False))
    return sock, raw


def test_a_response_head_leaves_with_its_first_body_bytes():
    sock, raw = _responding()
    sock.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    assert raw.calls == []
    sock.sendall(b"first")
    sock.sendall(b"second")
    assert raw.calls == [("sendall", b"HTTP/1.1 200 OK\r\n\r\nfirst"), ("sendall", b"second")]
    sock.flush()
    assert len(raw.calls) == 2


def test_a_head_without_body_bytes_is_sent_when_the_response_ends():
    sock, raw = _responding()
    sock.sendall(b"HTTP/1.1 304 Not Modified\r\n\r\n")
    sock.flush()
    assert raw.calls == [("sendall", b"HTTP/1.1 304 Not Modified\r\n\r\n")]
    sock.end_request()
    sock.sendall(b"not held")  # between requests (an error page): nothing is held
    assert raw.calls[-1] == ("sendall", b"not held")


def test_a_held_head_goes_first_when_the_socket_is_written_another_way():
    for write in (lambda sock: sock.send(b"raw"), lambda sock: sock.fileno()):
        sock, raw = _responding()
        sock.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
        write(sock)
        assert raw.calls[0] == ("sendall", b"HTTP/1.1 200 OK\r\n\r\n")


def test_a_serving_worker_reads_each_setting_once():
    from gunicorn.config import Config

    cfg = Config()
    cfg.set("keepalive", 7)
    reads = []
    keepalive = cfg.settings["keepalive"]
    original_get = keepalive.get
    keepalive.get = lambda: reads.append("keepalive") or original_get()
    settled = serving.SettledConfig(cfg)
    assert settled.keepalive == 7 and settled.keepalive == 7
    assert reads == ["keepalive"]
    assert settled.is_ssl == cfg.is_ssl  # a property: the configuration's own, each time
    assert "is_ssl" not in vars(settled)
    assert settled.settings is cfg.settings
