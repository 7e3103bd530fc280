"""WSGI entry point: ``gunicorn wsgi:app``."""

import logging

from api import create_app

# The server process owns logging: warnings and errors of the app's loggers go to stderr.
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = create_app()
