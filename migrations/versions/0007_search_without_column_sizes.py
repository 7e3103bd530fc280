"""SQLite search tables without per-row column sizes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

The FTS5 tables kept, for every book, the number of trigrams of its title (or author) in a
``%_docsize`` table: a row written by every insert, used only by ranking functions (``bm25``),
which the search never calls (results are in the list's sort order). They are rebuilt with
``columnsize=0``: an insert writes one row fewer per table (a POST ~60 µs less), and matching is
unchanged. PostgreSQL has nothing to change.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEARCHED = ("title", "author")


def _rebuild(options: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for c in SEARCHED:
        # The books triggers name the table, so they keep writing to the rebuilt one.
        op.execute(f"DROP TABLE books_search_{c}")
        op.execute(
            f"CREATE VIRTUAL TABLE books_search_{c} USING fts5("
            f"{c}, tokenize = 'trigram case_sensitive 1'{options})"
        )
        op.execute(f"INSERT INTO books_search_{c} (rowid, {c}) SELECT id, lower({c}) FROM books")


def upgrade():
    _rebuild(", columnsize = 0")


def downgrade():
    _rebuild("")
