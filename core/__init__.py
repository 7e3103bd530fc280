"""The Book API core: configuration, models, validation, domain errors and services.

Nothing in this package knows which API version called it or imports ``flask.request``.
"""
