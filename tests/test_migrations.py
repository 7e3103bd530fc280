"""The Alembic migrations build exactly the schema the models describe, and run both ways."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from api import create_app
from core.extensions import db
from core.models import Book, is_migration_only
from tests.conftest import base_environ

APP_TABLES = {"users", "books", "revoked_tokens", "api_keys", "book_stats"}
# SQLite cannot reflect the lower(title)/lower(author) indexes: SQLAlchemy warns when reflecting
# and Alembic warns that it cannot compare them. Only these two warnings are silenced.
SQLITE_EXPRESSION_INDEX_WARNING = (
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning"
)
SQLITE_EXPRESSION_INDEX_COMPARE_WARNING = (
    "ignore:autogenerate skipping metadata-specified expression-based index:UserWarning"
)


def schema_differences(app) -> list:
    """What autogenerate would put in a new migration for this app's database."""
    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "render_as_batch": True,
                    "include_object": lambda obj, name, type_, *_: (
                        not is_migration_only(name, type_)
                    ),
                },
            )
            return compare_metadata(context, db.metadata)


def table_names(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


@pytest.mark.filterwarnings(SQLITE_EXPRESSION_INDEX_WARNING)
@pytest.mark.filterwarnings(SQLITE_EXPRESSION_INDEX_COMPARE_WARNING)
def test_migrated_database_matches_the_models(app):
    assert schema_differences(app) == []


def index_names(app, table: str) -> set[str]:
    """Every index on ``table``, expression-based ones included (which reflection skips)."""
    with app.app_context():
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
            else:
                sql = "SELECT indexname FROM pg_indexes WHERE tablename = :t"
            return set(conn.execute(sa.text(sql), {"t": table}).scalars())


@pytest.mark.filterwarnings(SQLITE_EXPRESSION_INDEX_WARNING)
def test_migrated_database_has_the_unique_constraints_and_sort_indexes(app):
    with app.app_context():
        inspector = sa.inspect(db.engine)
        uniques = {
            (table, tuple(u["column_names"]))
            for table in ("users", "books")
            for u in inspector.get_unique_constraints(table)
        }
    assert {("users", ("email",)), ("books", ("isbn",))} <= uniques
    assert {
        "ix_books_created_at_id",
        "ix_books_title_lower_id",
        "ix_books_author_lower_id",
        "ix_books_year_nulls_high_id",
        "ix_books_year_nulls_low_id",
        "ix_books_year_created_at_id",
        "ix_books_year_title_lower_id",
        "ix_books_year_author_lower_id",
        "ix_books_created_by",
    } <= index_names(app, "books")
    assert {"ix_revoked_tokens_expires_at", "ix_revoked_tokens_user_id"} <= index_names(
        app, "revoked_tokens"
    )
    assert {"ix_api_keys_prefix", "ix_api_keys_created_by"} <= index_names(app, "api_keys")
    with app.app_context():
        prefix_index = next(
            i
            for i in sa.inspect(db.engine).get_indexes("api_keys")
            if i["name"] == "ix_api_keys_prefix"
        )
    assert prefix_index["unique"]


@pytest.mark.filterwarnings(SQLITE_EXPRESSION_INDEX_WARNING)
@pytest.mark.filterwarnings(SQLITE_EXPRESSION_INDEX_COMPARE_WARNING)
def test_downgrade_to_base_and_upgrade_again(tmp_path):
    app = create_app(environ=base_environ(f"sqlite:///{tmp_path / 'migrations.db'}"))
    try:
        with app.app_context():
            upgrade()
        assert APP_TABLES <= table_names(app)
        assert schema_differences(app) == []

        with app.app_context():
            downgrade(revision="base")
        assert table_names(app) & APP_TABLES == set()

        with app.app_context():
            upgrade()
        assert APP_TABLES <= table_names(app)
        assert schema_differences(app) == []
    finally:
        with app.app_context():
            db.engine.dispose()


def test_the_sqlite_search_tables_keep_their_books_across_the_column_size_rebuild(tmp_path):
    """0007 rebuilds the FTS5 tables without ``%_docsize``; the books indexed before it (and
    after, and after going back) are still found."""
    app = create_app(environ=base_environ(f"sqlite:///{tmp_path / 'search.db'}"))

    def found(term: str) -> list[str]:
        response = app.test_client().get("/api/v1/books", query_string={"search": term})
        assert response.status_code == 200
        return sorted(book["title"] for book in response.get_json()["books"])

    def add(title: str) -> None:
        with app.app_context():
            db.session.execute(sa.insert(Book).values(title=title, author="Someone"))
            db.session.commit()

    try:
        with app.app_context():
            upgrade(revision="0006")
        add("Ünïcode Tales")
        with app.app_context():
            upgrade()
        assert not {"books_search_title_docsize", "books_search_author_docsize"} & table_names(app)
        add("Tales of the Unexpected")
        assert found("tales") == ["Tales of the Unexpected", "Ünïcode Tales"]
        assert found("ÜNÏ") == ["Ünïcode Tales"]

        with app.app_context():
            downgrade(revision="0006")
        assert "books_search_title_docsize" in table_names(app)
        add("Old Tales")
        assert found("tales") == ["Old Tales", "Tales of the Unexpected", "Ünïcode Tales"]
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_search_table_rebuild_that_fails_part_way_leaves_the_old_tables(tmp_path):
    """0007's rebuild is one transaction: a failure after a table was dropped (here, an option
    FTS5 refuses) puts it back, so the books triggers still have their tables."""
    import importlib.util
    from pathlib import Path

    from alembic.operations import Operations

    path = Path(__file__).parents[1] / "migrations/versions/0007_search_without_column_sizes.py"
    spec = importlib.util.spec_from_file_location("rebuild_0007", path)
    rebuild = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rebuild)
    app = create_app(environ=base_environ(f"sqlite:///{tmp_path / 'atomic.db'}"))
    try:
        with app.app_context():
            upgrade()
            db.session.execute(sa.insert(Book).values(title="Kept Tales", author="Someone"))
            db.session.commit()
            with db.engine.connect() as connection:
                with Operations.context(MigrationContext.configure(connection)):
                    with pytest.raises(sa.exc.OperationalError):
                        rebuild._rebuild(", no_such_option = 1")
        assert {"books_search_title", "books_search_author"} <= table_names(app)
        response = app.test_client().get("/api/v1/books", query_string={"search": "tales"})
        assert [book["title"] for book in response.get_json()["books"]] == ["Kept Tales"]
    finally:
        with app.app_context():
            db.engine.dispose()
