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
