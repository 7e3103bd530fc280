"""Reading one book goes to the driver (core.extensions.DriverRead), in both versions: the same
answer as through SQLAlchemy, one statement on one pooled connection, a lost connection a 503
that the next request recovers from, and a transaction's own writes seen inside it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from core.extensions import db, driver_reads, rolled_back
from core.models import Book
from core.services import books
from tests.conftest import watch_driver

SECRET = "password=hunter2"


def test_a_book_is_one_driver_statement_and_nothing_through_sqlalchemy(
    api, app, make_book, count_queries, monkeypatch
):
    book = make_book(title="Dune", author="Frank Herbert", isbn="9780441013593", year=1965)
    driver = watch_driver(app, monkeypatch)
    with count_queries(driver=False) as through_sqlalchemy:
        response = api.get(f"/books/{book.id}")
    assert response.status_code == 200
    data = api.data(response)
    assert (data["id"], data["title"], data["author"]) == (book.id, "Dune", "Frank Herbert")
    assert (data["isbn"], data["year"], data["description"]) == ("9780441013593", 1965, None)
    assert len(driver.checkouts) == 1 and len(driver.statements) == 1
    assert "FROM books" in driver.statements[0]
    assert through_sqlalchemy == []
    listed = api.items(api.get("/books"))
    assert [item for item in listed if item["id"] == book.id] == [data]


def test_a_list_is_two_driver_statements_on_one_connection(
    api, app, make_book, count_queries, monkeypatch
):
    """The count and the page, both to the driver, on one pooled connection."""
    made = [make_book(title=f"Listed {n}", year=2000 + n) for n in range(3)]
    api.get("/books")  # warm up
    driver = watch_driver(app, monkeypatch)
    with count_queries(driver=False) as through_sqlalchemy:
        response = api.get("/books?sort=year&order=asc&per_page=2")
    assert response.status_code == 200
    assert [item["id"] for item in api.items(response)] == [made[0].id, made[1].id]
    assert api.total(response) == 3
    assert len(driver.checkouts) == 1 and len(driver.statements) == 2
    assert through_sqlalchemy == []


def test_a_list_inside_the_sessions_transaction_sees_its_writes(app, make_book):
    make_book(title="Saved")
    with app.test_request_context():
        db.session.add(Book(title="Pending", author="Someone"))
        db.session.flush()  # in the session's transaction, not committed
        page = books.list_books(books.ListParams(sort="title", order="asc"))
        assert [book.title for book in page.items] == ["Pending", "Saved"]
        assert page.total == 2
        db.session.rollback()


def test_the_driver_read_returns_what_sqlalchemy_returns(app, make_book):
    made = make_book(title="Ça va", author="Zoë", year=None, description="naïve\n%_")
    statement = books._BOOK_BY_ID.statement
    with app.app_context():
        with db.engine.connect() as connection:
            expected = tuple(connection.execute(statement, {"book_id": made.id}).one())
        row = books._BOOK_BY_ID.first({"book_id": made.id})
        assert books._BOOK_BY_ID.first({"book_id": made.id + 1000}) is None
    assert row == expected
    created_at = row[list(statement.selected_columns.keys()).index("created_at")]
    assert isinstance(created_at, datetime) and created_at.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize("lost", [True, False], ids=["disconnect", "other-operational-error"])
def test_a_failed_read_is_a_503_then_the_next_read_works(
    api, app, make_book, monkeypatch, caplog, lost
):
    """A lost connection is discarded and the pool renewed, as SQLAlchemy does; any other
    operational error (a lock, a cancelled statement) leaves the connection in the pool."""
    book = make_book(title="Dune")
    with app.app_context():
        engine = db.engine
    dbapi = engine.dialect.loaded_dbapi
    renewed_before = engine.pool._invalidate_time
    with monkeypatch.context() as patch:
        driver = watch_driver(app, patch, fail=dbapi.OperationalError(SECRET))
        patch.setattr(engine.dialect, "is_disconnect", lambda *args: lost)
        caplog.set_level(logging.DEBUG)
        response = api.get(f"/books/{book.id}")
        assert response.status_code == 503
        assert api.error(response)["reason"] == "database_unavailable"
        assert SECRET not in response.get_data(as_text=True)
        assert SECRET not in caplog.text
        assert len(driver.checkouts) == 1
        (record,) = driver.records
        assert (record.dbapi_connection is None) is lost
        assert (engine.pool._invalidate_time > renewed_before) is lost
    response = api.get(f"/books/{book.id}")
    assert response.status_code == 200
    assert api.data(response)["title"] == "Dune"


def test_an_unexpected_driver_error_is_a_bare_500(api, app, make_book, monkeypatch, caplog):
    book = make_book(title="Dune")
    with app.app_context():
        dbapi = db.engine.dialect.loaded_dbapi
    watch_driver(app, monkeypatch, fail=dbapi.ProgrammingError(SECRET))
    caplog.set_level(logging.DEBUG)
    response = api.get(f"/books/{book.id}")
    assert response.status_code == 500
    assert SECRET not in response.get_data(as_text=True)
    assert SECRET not in caplog.text


def test_inside_a_transaction_the_read_sees_its_uncommitted_writes(app, make_book):
    with app.app_context():
        with rolled_back() as connection:
            inserted = connection.execute(
                sa.insert(Book).values(title="Unsaved", author="Nobody").returning(Book.id)
            ).scalar_one()
            assert books.get_book(inserted).title == "Unsaved"
        db.session.remove()
        try:
            books.get_book(inserted)
        except books.NotFound:
            pass
        else:
            raise AssertionError("the rolled-back book is still readable")


def test_the_request_sessions_transaction_is_read_in_place(app, make_book):
    with app.test_request_context():
        book = Book(title="Pending", author="Someone")
        db.session.add(book)
        db.session.flush()  # in the session's transaction, not committed
        assert books.get_book(book.id).title == "Pending"
        db.session.rollback()


def test_values_are_sent_as_sqlalchemy_sends_them(app, make_book):
    """A datetime goes to the driver as its bound type stores it (text on SQLite), and a
    statement's own values (``literal``) are sent too: the rows are SQLAlchemy's."""
    from core.extensions import DriverRead

    early = make_book(title="Early")
    later = make_book(title="Later")
    statement = (
        sa.select(Book.id, Book.updated_at, sa.literal(7).label("seven"))
        .where(Book.updated_at >= sa.bindparam("since"), Book.id >= sa.bindparam("first_id"))
        .order_by(Book.id)
    )
    read = DriverRead(statement)
    with app.app_context():
        since = db.session.get(Book, early.id).updated_at
        values = {"since": since, "first_id": early.id}
        with db.engine.connect() as connection:
            expected = [tuple(row) for row in connection.execute(statement, values)]
        db.session.remove()
        with driver_reads() as run:
            rows = run(read, values)
        assert read.first({"since": since, "first_id": later.id + 1}) is None
    assert rows == expected
    assert [row[0] for row in rows] == [early.id, later.id]
    assert rows[0][2] == 7


def test_a_statement_rewritten_per_execution_is_refused(app):
    """An expanding IN list is rendered per execution: the SQL is not fixed."""
    from core.extensions import DriverRead

    read = DriverRead(sa.select(Book.id).where(Book.id.in_(sa.bindparam("ids", expanding=True))))
    with app.app_context():
        with pytest.raises(ValueError, match="SQL is fixed"):
            read.first({"ids": [1, 2]})


def test_a_numeric_column_is_refused(app):
    """Its result processor depends on the driver's type code (psycopg), unknown to a plan."""
    from core.extensions import DriverRead

    read = DriverRead(sa.select(sa.cast(Book.year, sa.Numeric(10, 2))).where(Book.id == 1))
    with app.app_context():
        with pytest.raises(ValueError, match="numeric"):
            read.first({})


def test_a_python_error_from_the_driver_keeps_the_connection(app, monkeypatch):
    """An exception the driver raises in Python, not a database error (sqlite3's OverflowError
    for an integer past 64 bits, say), leaves the pooled connection in place; only an
    interruption (a BaseException such as a worker's timeout) discards it."""
    from core.extensions import DriverRead

    read = DriverRead(sa.select(Book.id).where(Book.id == sa.bindparam("book_id")))
    for raised, kept in ((OverflowError("too large"), True), (KeyboardInterrupt(), False)):
        with monkeypatch.context() as patch:
            driver = watch_driver(app, patch, fail=raised)
            with app.app_context():
                with pytest.raises(type(raised)):
                    read.first({"book_id": 1})
            (record,) = driver.records
            assert (record.dbapi_connection is not None) is kept
