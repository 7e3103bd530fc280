"""Health of the parts the API depends on."""

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.extensions import db


def database_ok() -> bool:
    """True when a trivial query succeeds; never raises."""
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        db.session.rollback()
        return False
