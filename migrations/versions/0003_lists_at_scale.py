"""Lists and search at scale: a book counter, sort indexes for both directions, search indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

- ``book_stats`` holds the number of books, kept by triggers in the writing transaction.
- ``year`` gets one sort index per direction (books without a year sort last in both), and
  the year filter one index per other sort key.
- Search: on SQLite one FTS5 table per searched column (trigram tokenizer) over the text as
  the app's ``lower()`` folds it, kept in step by triggers; on PostgreSQL pg_trgm GIN
  indexes, which serve ILIKE.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

YEAR_NULLS_HIGH = 2**31 - 1
YEAR_NULLS_LOW = -1

# One FTS5 table per column: a term's posting list then holds only that column's rows.
SEARCHED = ("title", "author")
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER books_after_insert AFTER INSERT ON books BEGIN
        UPDATE book_stats SET book_count = book_count + 1 WHERE id = 1;
        {
        " ".join(
            f"INSERT INTO books_search_{c} (rowid, {c}) VALUES (new.id, lower(new.{c}));"
            for c in SEARCHED
        )
    }
    END""",
    f"""CREATE TRIGGER books_after_delete AFTER DELETE ON books BEGIN
        UPDATE book_stats SET book_count = book_count - 1 WHERE id = 1;
        {" ".join(f"DELETE FROM books_search_{c} WHERE rowid = old.id;" for c in SEARCHED)}
    END""",
    *(
        f"""CREATE TRIGGER books_after_update_{c} AFTER UPDATE OF {c} ON books BEGIN
        UPDATE books_search_{c} SET {c} = lower(new.{c}) WHERE rowid = old.id;
    END"""
        for c in SEARCHED
    ),
]

POSTGRESQL_COUNTER = [
    """CREATE FUNCTION book_stats_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE book_stats SET book_count = book_count + (SELECT count(*) FROM new_books)
            WHERE id = 1;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION book_stats_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE book_stats SET book_count = book_count - (SELECT count(*) FROM old_books)
            WHERE id = 1;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION book_stats_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE book_stats SET book_count = 0 WHERE id = 1;
        RETURN NULL;
    END $$""",
    # Statement-level with transition tables: a bulk insert updates the counter once.
    """CREATE TRIGGER books_count_insert AFTER INSERT ON books
        REFERENCING NEW TABLE AS new_books
        FOR EACH STATEMENT EXECUTE FUNCTION book_stats_after_insert()""",
    """CREATE TRIGGER books_count_delete AFTER DELETE ON books
        REFERENCING OLD TABLE AS old_books
        FOR EACH STATEMENT EXECUTE FUNCTION book_stats_after_delete()""",
    """CREATE TRIGGER books_count_truncate AFTER TRUNCATE ON books
        FOR EACH STATEMENT EXECUTE FUNCTION book_stats_after_truncate()""",
]


def upgrade():
    dialect = op.get_bind().dialect.name
    op.create_table(
        "book_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_book_stats_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_book_stats")),
    )
    op.execute("INSERT INTO book_stats (id, book_count) SELECT 1, count(*) FROM books")

    op.drop_index("ix_books_year_id", table_name="books")
    op.create_index(
        "ix_books_year_nulls_high_id",
        "books",
        [sa.text(f"coalesce(year, {YEAR_NULLS_HIGH})"), "id"],
    )
    op.create_index(
        "ix_books_year_nulls_low_id", "books", [sa.text(f"coalesce(year, {YEAR_NULLS_LOW})"), "id"]
    )
    op.create_index("ix_books_year_created_at_id", "books", ["year", "created_at", "id"])
    op.create_index(
        "ix_books_year_title_lower_id", "books", ["year", sa.text("lower(title)"), "id"]
    )
    op.create_index(
        "ix_books_year_author_lower_id", "books", ["year", sa.text("lower(author)"), "id"]
    )

    if dialect == "sqlite":
        for c in SEARCHED:
            op.execute(
                f"CREATE VIRTUAL TABLE books_search_{c} USING fts5("
                f"{c}, tokenize = 'trigram case_sensitive 1')"
            )
            op.execute(
                f"INSERT INTO books_search_{c} (rowid, {c}) SELECT id, lower({c}) FROM books"
            )
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_books_title_trgm ON books USING gin (title gin_trgm_ops)")
        op.execute("CREATE INDEX ix_books_author_trgm ON books USING gin (author gin_trgm_ops)")
        for statement in POSTGRESQL_COUNTER:
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("books_after_insert", "books_after_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for c in SEARCHED:
            op.execute(f"DROP TRIGGER IF EXISTS books_after_update_{c}")
            op.execute(f"DROP TABLE IF EXISTS books_search_{c}")
    elif dialect == "postgresql":
        for name in ("books_count_insert", "books_count_delete", "books_count_truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON books")
        for name in ("insert", "delete", "truncate"):
            op.execute(f"DROP FUNCTION IF EXISTS book_stats_after_{name}()")
        op.execute("DROP INDEX IF EXISTS ix_books_title_trgm")
        op.execute("DROP INDEX IF EXISTS ix_books_author_trgm")
    op.drop_index("ix_books_year_author_lower_id", table_name="books")
    op.drop_index("ix_books_year_title_lower_id", table_name="books")
    op.drop_index("ix_books_year_created_at_id", table_name="books")
    op.drop_index("ix_books_year_nulls_low_id", table_name="books")
    op.drop_index("ix_books_year_nulls_high_id", table_name="books")
    op.create_index("ix_books_year_id", "books", ["year", "id"])
    op.drop_table("book_stats")
