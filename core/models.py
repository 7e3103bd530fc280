"""SQLAlchemy models: users, books, revoked tokens, API keys, version usage and idempotency keys."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.config import utc_now
from core.extensions import db


class UTCDateTime(TypeDecorator):
    """Stores UTC instants; always returns timezone-aware UTC datetimes (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def result_processor(self, dialect, coltype):
        """On SQLite, the stored text (UTC, as SQLAlchemy writes it: ``2026-11-23
        19:51:06.123456``) is read straight into an aware datetime by one ``fromisoformat``:
        a page of books reads three per row, and parsing, then adding the zone in Python,
        cost more than the rest of the page's SQL. Anything else takes the general way."""
        general = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return general
        parse = datetime.fromisoformat

        def process(value):
            if value is None:
                return None
            try:
                moment = parse(value + "+00:00")
            except (TypeError, ValueError):  # not zone-less ISO text
                return general(value)
            # Date-only text reads the "+" as the date/time separator: no zone came of it.
            return moment if moment.tzinfo is not None else general(value)

        return process


# Ids are 32-bit integers; a larger one cannot exist and must never reach the database driver.
MAX_ID = 2**31 - 1

ROLE_USER = "user"
ROLE_ADMIN = "admin"
SCOPE_READ = "read"
SCOPE_WRITE = "write"
SCOPES = (SCOPE_READ, SCOPE_WRITE)


# On SQLite, ids are never reused after a delete (as on PostgreSQL): a deleted user's token
# must never name a later account.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class VersionPin:
    """A client's pinned API version (contract §10); the rules are in core.services.pins."""

    # Null: unversioned requests get the deployment's default version.
    pinned_version: Mapped[str | None] = mapped_column(String(16))
    # The version unversioned requests got before the last change, and when it changed: what
    # the rollback window is measured from.
    previous_version: Mapped[str | None] = mapped_column(String(16))
    version_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(VersionPin, db.Model):
    __tablename__ = "users"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored normalised to lower case, so the unique index compares case-insensitively.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=ROLE_USER)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


# Books without a year sort last in both orders: their sort key is a year no book can have,
# above every year ascending and below every year descending.
YEAR_NULLS_HIGH = 2**31 - 1
YEAR_NULLS_LOW = -1


class Book(db.Model):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    author: Mapped[str] = mapped_column(String(100))
    isbn: Mapped[str | None] = mapped_column(String(13), unique=True)
    year: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        # Every sort key is paired with id so that paging stays stable and index-backed, in
        # both directions (see core.services.books for why year has a key per direction).
        Index("ix_books_created_at_id", "created_at", "id"),
        Index("ix_books_title_lower_id", func.lower(title), "id"),
        Index("ix_books_author_lower_id", func.lower(author), "id"),
        Index("ix_books_year_nulls_high_id", func.coalesce(year, YEAR_NULLS_HIGH), "id"),
        Index("ix_books_year_nulls_low_id", func.coalesce(year, YEAR_NULLS_LOW), "id"),
        # The year filter with each of the other sorts.
        Index("ix_books_year_created_at_id", "year", "created_at", "id"),
        Index("ix_books_year_title_lower_id", "year", func.lower(title), "id"),
        Index("ix_books_year_author_lower_id", "year", func.lower(author), "id"),
        NEVER_REUSE_IDS,
    )

    def __repr__(self) -> str:
        return f"<Book {self.id}>"


class BookStats(db.Model):
    """One row: how many books exist, kept exact by database triggers on ``books``.

    The triggers (migration 0003) run in the writing transaction, so the count is exact under
    racing writers and for any client that writes to the table, and an unfiltered list never
    counts the table.
    """

    __tablename__ = "book_stats"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_count: Mapped[int] = mapped_column(Integer)


# Built by the migrations, not from the models: the SQLite full-text index (an FTS5 virtual
# table and its shadow tables) and PostgreSQL's trigram indexes.
SEARCH_INDEX_TABLE = "books_search"
TRIGRAM_INDEXES = frozenset({"ix_books_title_trgm", "ix_books_author_trgm"})


def is_migration_only(name: str | None, type_: str) -> bool:
    """True for the schema objects the models do not describe (for Alembic's comparisons)."""
    if type_ == "table":
        return bool(name) and name.startswith(SEARCH_INDEX_TABLE)
    return type_ == "index" and name in TRIGRAM_INDEXES


class RevokedToken(db.Model):
    """A JWT that may no longer be used, looked up by its ``jti`` on every authenticated request."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_type: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ApiKey(VersionPin, db.Model):
    """A service client's key. Only a hash of the secret is stored; ``prefix`` finds the row."""

    __tablename__ = "api_keys"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    # SHA-256 of the whole key, hex. Keys are 256-bit random values, so a fast hash suffices.
    key_hash: Mapped[str] = mapped_column(String(64))
    # Space-separated, sorted: "read", "write" or "read write".
    scopes: Mapped[str] = mapped_column(String(64))
    # A key acts for the admin who created it; it goes when that account goes.
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    creator: Mapped[User] = relationship()

    @property
    def scope_list(self) -> list[str]:
        return sorted(self.scopes.split())

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def __repr__(self) -> str:
        return f"<ApiKey {self.id} {self.prefix}>"


class VersionUsage(db.Model):
    """Requests per client, API version, endpoint and UTC day (contract §11).

    ``client_type`` is ``user``, ``api_key`` or ``anonymous`` (``client_id`` 0). No foreign
    keys: the counts of a deleted account or key are history and stay.
    """

    __tablename__ = "version_usage"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    client_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    client_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(16), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_version_usage_version_day", "version", "day"),)


class IdempotencyKey(db.Model):
    """A client's ``Idempotency-Key`` and the response it got (contract §13).

    ``status`` is NULL while the first request runs (pending); then the response's status,
    its kept headers (JSON) and its body (sealed: an API key's plaintext is in it). The client
    is ``user`` or ``api_key`` with its id, as in ``version_usage``; no foreign keys, the rows
    expire within hours anyway. ``created_at`` is when the key's current claim was taken: by
    its first request, or by the retry that took over a claim whose lease ran out.
    """

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_type: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 (hex) of the method, the operation, the API version and the canonical JSON body.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (
        UniqueConstraint("client_type", "client_id", "key", name="uq_idempotency_keys_client_key"),
    )

    @property
    def is_pending(self) -> bool:
        return self.status is None
