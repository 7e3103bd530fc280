"""WSGI entry point: ``gunicorn wsgi:app`` (and ``flask --app wsgi ...``)."""

import logging

from api import create_app
from core.startup import build_or_refuse

# The server process owns logging: warnings and errors of the app's loggers go to stderr.
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

# A refused configuration is one line on stderr and exit status 4, never a traceback.
app = build_or_refuse(create_app)
