"""Version usage (contract §11): who calls which version and endpoint, per UTC day.

Requests are counted in the process's memory (``Tally``) and flushed, every
``USAGE_FLUSH_SECONDS`` and when the process exits, to a shared store: Redis when one is
configured, the database otherwise. No request writes to either. A flush that fails keeps its
counts for the next one, so an outage of the store loses nothing; a crash loses at most the
counts since the last flush.

Reports read the store only: what a process has not flushed yet is not in them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from core.errors import ValidationFailed
from core.extensions import db
from core.models import ApiKey, User, VersionUsage
from core.paging import Page

MAX_DAYS = 90
DEFAULT_DAYS = 30
ANONYMOUS = ("anonymous", 0)
CLIENT_TYPES = ("user", "api_key", "anonymous")
# Redis keeps a day's hash a little longer than any report can look back.
REDIS_RETENTION = timedelta(days=MAX_DAYS + 2)


@dataclass(frozen=True)
class Key:
    day: date
    client_type: str
    client_id: int
    version: str
    endpoint: str


@dataclass
class Count:
    requests: int
    first_seen: datetime
    last_seen: datetime

    def merge(self, other: Count) -> None:
        self.requests += other.requests
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)


@dataclass
class Tally:
    """One process's counts since its last flush. Thread-safe; ``add`` is a dict update."""

    # (day, client type, client id, version, endpoint) -> [requests, first seen, last seen]
    counts: dict[tuple, list] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, client: tuple[str, int], version: str, endpoint: str, now: datetime) -> None:
        # A plain tuple key and a list value: this runs on every request.
        key = (now.date(), client[0], client[1], version, endpoint)
        with self.lock:
            count = self.counts.get(key)
            if count is None:
                self.counts[key] = [1, now, now]
            else:
                count[0] += 1
                count[2] = now

    def take(self) -> dict[Key, Count]:
        with self.lock:
            taken, self.counts = self.counts, {}
        return {Key(*key): Count(*value) for key, value in taken.items()}

    def give_back(self, counts: dict[Key, Count]) -> None:
        """Return counts a failed flush could not store, merged with what came since."""
        with self.lock:
            for key, count in counts.items():
                plain = (key.day, key.client_type, key.client_id, key.version, key.endpoint)
                newer = self.counts.get(plain)
                if newer is not None:
                    count.merge(Count(*newer))
                self.counts[plain] = [count.requests, count.first_seen, count.last_seen]

    def flush(self, store: Store) -> int:
        """Write the counts to ``store``; on failure they stay for the next flush. Returns the
        number of requests written."""
        counts = self.take()
        if not counts:
            return 0
        try:
            store.add(counts)
        except Exception:
            self.give_back(counts)
            raise
        return sum(count.requests for count in counts.values())


class Store:
    def add(self, counts: dict[Key, Count]) -> None:
        raise NotImplementedError

    def rows(self, since: date, until: date, version: str | None, client: tuple[str, int] | None):
        """(key, count) pairs of the days ``since`` to ``until``, optionally for one version
        or client."""
        raise NotImplementedError


class DatabaseStore(Store):
    """The ``version_usage`` table; a flush is one upsert per key, in one transaction."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def add(self, counts: dict[Key, Count]) -> None:
        table = VersionUsage.__table__
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert

            least, greatest = sa.func.least, sa.func.greatest
        else:
            from sqlalchemy.dialects.sqlite import insert

            least, greatest = sa.func.min, sa.func.max
        statement = insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=["day", "client_type", "client_id", "version", "endpoint"],
            set_={
                "requests": table.c.requests + statement.excluded.requests,
                "first_seen": least(table.c.first_seen, statement.excluded.first_seen),
                "last_seen": greatest(table.c.last_seen, statement.excluded.last_seen),
            },
        )
        values = [
            {
                "day": key.day,
                "client_type": key.client_type,
                "client_id": key.client_id,
                "version": key.version,
                "endpoint": key.endpoint,
                "requests": count.requests,
                "first_seen": count.first_seen,
                "last_seen": count.last_seen,
            }
            for key, count in sorted(counts.items(), key=lambda item: _sort_key(item[0]))
        ]
        with self.engine.begin() as connection:
            connection.execute(statement, values)

    def rows(self, since, until, version, client):
        query = sa.select(VersionUsage).where(VersionUsage.day >= since, VersionUsage.day <= until)
        if version is not None:
            query = query.where(VersionUsage.version == version)
        if client is not None:
            query = query.where(
                VersionUsage.client_type == client[0], VersionUsage.client_id == client[1]
            )
        for row in db.session.execute(query).scalars():
            key = Key(row.day, row.client_type, row.client_id, row.version, row.endpoint)
            yield key, Count(row.requests, row.first_seen, row.last_seen)


class RedisStore(Store):
    """Per UTC day: a hash of requests per client, version and endpoint, and the first and last
    instants beside it."""

    def __init__(self, url: str, prefix: str):
        import redis

        self.redis = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self.prefix = prefix

    def _names(self, day: date) -> tuple[str, str, str]:
        base = f"{self.prefix}:usage:{day.isoformat()}"
        return f"{base}:requests", f"{base}:first", f"{base}:last"

    def add(self, counts: dict[Key, Count]) -> None:
        # A counter hash, and two sorted sets whose scores only move down (first seen: ZADD LT)
        # or up (last seen: ZADD GT), so processes flushing in any order agree.
        pipe = self.redis.pipeline(transaction=True)
        for key, count in counts.items():
            requests, first, last = self._names(key.day)
            name = _field(key)
            pipe.hincrby(requests, name, count.requests)
            pipe.zadd(first, {name: count.first_seen.timestamp()}, lt=True)
            pipe.zadd(last, {name: count.last_seen.timestamp()}, gt=True)
            for redis_key in (requests, first, last):
                pipe.expire(redis_key, REDIS_RETENTION)
        pipe.execute()

    def rows(self, since, until, version, client):
        day = since
        while day <= until:
            requests, first, last = self._names(day)
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(requests)
            pipe.zrange(first, 0, -1, withscores=True)
            pipe.zrange(last, 0, -1, withscores=True)
            counted, firsts, lasts = pipe.execute()
            firsts, lasts = dict(firsts), dict(lasts)
            for name, value in counted.items():
                client_type, client_id, key_version, endpoint = json.loads(name)
                if version is not None and key_version != version:
                    continue
                if client is not None and (client_type, client_id) != tuple(client):
                    continue
                key = Key(day, client_type, client_id, key_version, endpoint)
                yield key, Count(int(value), _instant(firsts.get(name)), _instant(lasts.get(name)))
            day += timedelta(days=1)


def _field(key: Key) -> str:
    return json.dumps([key.client_type, key.client_id, key.version, key.endpoint])


def _instant(value) -> datetime:
    return datetime.fromtimestamp(float(value or 0), UTC)


def _sort_key(key: Key):
    # One order for every flush, so concurrent upserts on PostgreSQL take row locks alike.
    return (key.day, key.client_type, key.client_id, key.version, key.endpoint)


# Reports


def check_days(days) -> int:
    """``days`` as a whole number from 1 to MAX_DAYS; raises ValidationFailed otherwise."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(details={"days": [f"Must be a whole number from 1 to {MAX_DAYS}."]})
    return days


def _since(days: int, now: datetime) -> date:
    return (now - timedelta(days=days - 1)).date()


def client_usage(store: Store, client: tuple[str, int], days: int, now: datetime) -> dict:
    """One client's requests per version and endpoint over the last ``days`` UTC days."""
    versions: dict[str, dict] = {}
    for key, count in store.rows(_since(check_days(days), now), now.date(), None, client):
        entry = versions.setdefault(
            key.version, {"version": key.version, "requests": 0, "last_seen": None, "ends": {}}
        )
        entry["requests"] += count.requests
        entry["ends"][key.endpoint] = entry["ends"].get(key.endpoint, 0) + count.requests
        if entry["last_seen"] is None or count.last_seen > entry["last_seen"]:
            entry["last_seen"] = count.last_seen
    return {
        "days": days,
        "versions": [
            {
                "version": entry["version"],
                "requests": entry["requests"],
                "last_seen": entry["last_seen"],
                "endpoints": _endpoints(entry["ends"]),
            }
            for entry in sorted(versions.values(), key=lambda e: int(e["version"]))
        ],
    }


def version_usage(
    store: Store, version: str | None, days: int, now: datetime, page: int = 1, per_page: int = 20
) -> Page[dict]:
    """One row per client that called ``version`` (every version: None) in the window, most
    requests first (ties: the earliest first seen, then the client)."""
    clients: dict[tuple[str, int], dict] = {}
    for key, count in store.rows(_since(check_days(days), now), now.date(), version, None):
        client = (key.client_type, key.client_id)
        row = clients.get(client)
        if row is None:
            row = clients[client] = {
                "client": client,
                "requests": 0,
                "ends": {},
                "versions": set(),
                "first_seen": count.first_seen,
                "last_seen": count.last_seen,
            }
        row["requests"] += count.requests
        row["ends"][key.endpoint] = row["ends"].get(key.endpoint, 0) + count.requests
        row["versions"].add(key.version)
        row["first_seen"] = min(row["first_seen"], count.first_seen)
        row["last_seen"] = max(row["last_seen"], count.last_seen)
    ordered = sorted(
        clients.values(),
        key=lambda r: (-r["requests"], r["first_seen"], CLIENT_TYPES.index(r["client"][0])),
    )
    chunk = ordered[(page - 1) * per_page : page * per_page]
    described = _describe([row["client"] for row in chunk])
    items = [
        {
            "client": described[row["client"]],
            "requests": row["requests"],
            "versions": sorted(row["versions"], key=int),
            "endpoints": _endpoints(row["ends"]),
            "first_seen": row["first_seen"],
            "last_seen": row["last_seen"],
        }
        for row in chunk
    ]
    return Page(items=items, total=len(ordered), page=page, per_page=per_page)


def _endpoints(counts: dict[str, int]) -> list[dict]:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"endpoint": endpoint, "requests": requests} for endpoint, requests in ordered]


def _describe(clients: Iterable[tuple[str, int]]) -> dict[tuple[str, int], dict]:
    """Who each client is: a user's email, an API key's name (None once deleted)."""
    clients = list(clients)
    user_ids = [cid for kind, cid in clients if kind == "user"]
    key_ids = [cid for kind, cid in clients if kind == "api_key"]
    emails = dict(
        db.session.execute(sa.select(User.id, User.email).where(User.id.in_(user_ids))).all()
        if user_ids
        else []
    )
    names = dict(
        db.session.execute(sa.select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(key_ids))).all()
        if key_ids
        else []
    )
    described = {}
    for kind, cid in clients:
        if kind == "user":
            described[(kind, cid)] = {"type": kind, "id": cid, "email": emails.get(cid)}
        elif kind == "api_key":
            described[(kind, cid)] = {"type": kind, "id": cid, "name": names.get(cid)}
        else:
            described[(kind, cid)] = {"type": "anonymous"}
    return described
