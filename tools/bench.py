"""Benchmark: the app's own latency per request and the memory of a list page, in-process.

    python tools/bench.py [--sizes 10000,1000000] [--requests 200] [--budget 15]
                          [--database-url URL]

Runs with Flask's test client (no network, no server), so the figures are the app's own cost:
hooks, routing, validation, SQL, presentation. Rate limits are off; the request log is on, as
in production, and written to /dev/null. For every size the catalogue is rebuilt: the schema
from the migrations, then N books seeded through the app's engine (so triggers and SQL
functions the app installs run), shaped like the load kit's seeder: every 100th title starts
with "Python" (1 % match ``search=python``), ISBN-13 "978" + 9-digit id + check digit,
``created_at`` increasing with id.

Scenarios, for v1 and v2:

    S1  GET /books/1                      S7  GET /health
    S2  GET /books?page=1&per_page=20     (S4 at 1,000,000 books and more)
    S3  GET /books?page=400&per_page=20   S5  GET /books?search=python&page=1&per_page=20
    S6  POST /books with a Bearer token, a unique title and ISBN per request (runs last)

and, v2 only, a cursor walk: ``pagination.next_cursor`` followed page by page from page 1 to
depth 400 (or the last page), then that page timed; where a cursor can be had from the next
to last page, the page at the end too. Without ``next_cursor`` the line reads "n/a".

Each scenario runs ``--requests`` times (after a short warm-up) or until ``--budget`` seconds
have passed, whichever comes first (never fewer than 5 requests); req/s is 1000 / mean ms of
one request after another.

SQLite (default): a temporary file per size, filled with executemany in one transaction.
PostgreSQL (``BENCH_DATABASE_URL`` or ``--database-url``): the database's name must contain
"bench" or "test"; its public schema is dropped and migrated afresh for every size, then
filled with one ``INSERT ... SELECT ... FROM generate_series`` and ``VACUUM (ANALYZE)``.
Sizes also come from ``BENCH_SIZES`` and the request count from ``BENCH_REQUESTS``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api import create_app  # noqa: E402
from api.platform import usage  # noqa: E402
from core.extensions import db  # noqa: E402
from core.services import auth  # noqa: E402

WORDS = [
    "Clean", "Pragmatic", "Effective", "Modern", "Practical", "Advanced", "Applied",
    "Essential", "Fluent", "Learning", "Mastering", "Hands-On", "Deep", "Classic",
]  # fmt: skip
DESCRIPTION = (
    "A synthetic book row generated for load testing. It exists only to give the "
    "list endpoints realistic payload sizes. #"
)
EPOCH = dt.datetime(2020, 1, 1)
COLUMNS = ("title", "author", "isbn", "year", "description", "created_at", "updated_at")
SQLITE_BATCH = 50_000
CURSOR_DEPTH = 400
MIN_SAMPLES = 5
BIG = 1_000_000
ROUNDS = 3  # alternating rounds of the counting on/off comparison
USER = {"email": "bench@example.com", "password": "bench-password"}


# Seeding ------------------------------------------------------------------------------------


def _weighted(weights: tuple[int, int, int]) -> list[int]:
    """Weighted digit sums of every three-digit group 000-999."""
    return [sum(w * int(d) for w, d in zip(weights, f"{n:03d}", strict=True)) for n in range(1000)]


_W313, _W131 = _weighted((3, 1, 3)), _weighted((1, 3, 1))


def isbn13(i: int) -> str:
    """ "978" + 9-digit ``i`` + ISBN-13 check digit ("978" weighs 9 + 21 + 8 = 38)."""
    total = 38 + _W313[i // 1_000_000] + _W131[i // 1000 % 1000] + _W313[i % 1000]
    return f"978{i:09d}{(10 - total % 10) % 10}"


@functools.lru_cache(maxsize=4)
def _minute(n: int) -> str:
    # SQLAlchemy's SQLite DateTime format; UTCDateTime stores UTC without a zone there.
    return (EPOCH + dt.timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:")


def book_rows(start: int, stop: int) -> Iterator[tuple]:
    for i in range(start, stop):
        title = ("Python" if i % 100 == 0 else WORDS[i % len(WORDS)]) + f" Book {i}"
        stamp = f"{_minute(i // 60)}{i % 60:02d}.000000"
        yield (title, f"Author {i % 1000}", isbn13(i), 1950 + i % 75, f"{DESCRIPTION}{i}",
               stamp, stamp)  # fmt: skip


def seed_sqlite(count: int) -> None:
    insert = f"INSERT INTO books ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    with db.engine.connect() as connection:
        # A large page cache keeps the index B-trees in memory while they grow. The connection
        # is discarded afterwards, so the measurements run with the app's own settings.
        connection.exec_driver_sql("PRAGMA cache_size = -262144")  # KiB
        connection.commit()
        with connection.begin():  # one transaction, batches of executemany
            for start in range(1, count + 1, SQLITE_BATCH):
                stop = min(start + SQLITE_BATCH, count + 1)
                connection.exec_driver_sql(insert, list(book_rows(start, stop)))
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.invalidate()


def _isbn_sql() -> str:
    # Check digit of "978" + lpad(i, 9): 9*1 + 7*3 + 8*1 = 38, then weights 3,1,3,... on i.
    weights = [3, 1, 3, 1, 3, 1, 3, 1, 3]
    terms = " + ".join(f"{w} * ((g.i / {10 ** (8 - k)}) % 10)" for k, w in enumerate(weights))
    return f"'978' || lpad(g.i::text, 9, '0') || ((10 - (38 + {terms}) % 10) % 10)::text"


def seed_postgres(count: int) -> None:
    words = ", ".join(f"'{w}'" for w in WORDS)
    stamp = "TIMESTAMPTZ '2020-01-01 00:00:00+00' + g.i * INTERVAL '1 second'"
    expressions = [
        f"CASE WHEN g.i % 100 = 0 THEN 'Python' ELSE (ARRAY[{words}])[1 + g.i % {len(WORDS)}]"
        " END || ' Book ' || g.i",
        "'Author ' || (g.i % 1000)",
        _isbn_sql(),
        "1950 + g.i % 75",
        "'" + DESCRIPTION + "' || g.i",
        stamp,
        stamp,
    ]
    select = ",\n       ".join(f"({e})" for e in expressions)
    with db.engine.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO books ({', '.join(COLUMNS)})\nSELECT {select}\n"
                "  FROM generate_series(1, :count) AS g(i)"
            ),
            {"count": count},
        )
    # VACUUM as well as ANALYZE: a settled table (visibility map set) even without autovacuum.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE) books")


def refuse_unless_disposable(url: str) -> None:
    """A database the bench empties must say so in its name."""
    name = make_url(url).database or ""
    if "bench" not in name and "test" not in name:
        raise SystemExit(
            f"bench: refusing to empty database {name!r}: its name must contain 'bench' or 'test'"
        )


def empty_postgres(url: str) -> None:
    refuse_unless_disposable(url)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")


def build(url: str, size: int) -> tuple:
    """A migrated, seeded app on ``url`` and a write token; returns (app, token, seconds)."""
    app = create_app(environ={"DATABASE_URL": url, "RATELIMIT_ENABLED": "false"})
    started = time.perf_counter()
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        if postgres:
            empty_postgres(url)
        upgrade()
        (seed_postgres if postgres else seed_sqlite)(size)
        user = auth.register(USER["email"], USER["password"])
        token = auth.issue_tokens(user, with_refresh=False).access_token
    return app, token, time.perf_counter() - started


# Measuring ----------------------------------------------------------------------------------


class Runner:
    def __init__(self, client, requests: int, budget: float):
        self.client = client
        self.requests = requests
        self.budget = budget

    def call(self, method: str, url: str, **kwargs):
        response = self.client.open(url, method=method, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url}: {response.status_code} {response.get_data()!r}")
        return response

    def time(self, method: str, url: str, body=None, **kwargs) -> list[float]:
        """Milliseconds per request; ``body(n)`` makes the n-th request's JSON body."""
        warmup = max(2, min(10, self.requests // 20))
        samples = []
        deadline = time.perf_counter() + self.budget
        for n in range(warmup + self.requests):
            json = body(n) if body else None
            started = time.perf_counter()
            self.call(method, url, json=json, **kwargs)
            elapsed = time.perf_counter() - started
            if n >= warmup:
                samples.append(elapsed * 1000)
                if time.perf_counter() > deadline and len(samples) >= MIN_SAMPLES:
                    break
        return samples


def row(scenario: str, version: str, samples: list[float] | None) -> str:
    if not samples:
        return f"| {scenario} | {version} | n/a (no cursor paging) | | | |"
    ordered = sorted(samples)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    rate = 1000 / statistics.mean(ordered)
    return (
        f"| {scenario} | {version} | {statistics.median(ordered):.2f} | {p95:.2f} | "
        f"{rate:.{1 if rate < 10 else 0}f} | {len(ordered)} |"
    )


def next_cursor(response) -> str | None:
    body = response.get_json(silent=True) or {}
    pagination = body.get("pagination") if isinstance(body, dict) else None
    return pagination.get("next_cursor") if isinstance(pagination, dict) else None


def cursor_rows(run: Runner, size: int) -> list[str]:
    """Walk v2 by cursor to CURSOR_DEPTH, time that page, and the end if a cursor leads there."""
    base = "/api/v2/books"

    def at(cursor: str) -> str:
        return f"{base}?{urlencode({'cursor': cursor, 'per_page': 20})}"

    label = f"cursor page at depth {CURSOR_DEPTH}"
    first = run.call("GET", f"{base}?per_page=20")
    cursor = next_cursor(first)
    if cursor is None:
        return [row(f"{label} (next_cursor)", "v2", None)]
    depth = 1
    while depth < CURSOR_DEPTH:
        following = next_cursor(run.call("GET", at(cursor)))
        depth += 1
        if following is None:
            break
        cursor = following
    rows = [row(f"cursor page at depth {depth}", "v2", run.time("GET", at(cursor)))]
    last_page = first.get_json()["pagination"]["total_pages"]
    if last_page > depth + 1:
        near_end = next_cursor(run.call("GET", f"{base}?page={last_page - 1}&per_page=20"))
        if near_end is not None:
            rows.append(row(f"cursor page {last_page} (last)", "v2", run.time("GET", at(near_end))))
    return rows


def measure(app, token: str, size: int, requests: int, budget: float) -> list[str]:
    run = Runner(app.test_client(), requests, budget)
    headers = {"Authorization": f"Bearer {token}"}
    list_label = "S4" if size >= BIG else "S2"
    rows = []
    for version in ("1", "2"):
        base = f"/api/v{version}"
        for scenario, url in (
            ("S1 GET one book", f"{base}/books/1"),
            ("S7 health", f"{base}/health"),
            (f"{list_label} list page 1", f"{base}/books?page=1&per_page=20"),
            ("S3 list page 400", f"{base}/books?page=400&per_page=20"),
            ("S5 search python", f"{base}/books?search=python&page=1&per_page=20"),
        ):
            rows.append(row(scenario, f"v{version}", run.time("GET", url)))
    rows += cursor_rows(run, size)
    for version in ("1", "2"):

        def body(n: int, version=version) -> dict:
            number = f"{version}{n:010d}"
            return {"title": f"Bench Book {number}", "author": "Bench Author",
                    "isbn": f"99{number}", "year": 2024}  # fmt: skip

        samples = run.time("POST", f"/api/v{version}/books", body, headers=headers)
        rows.append(row("S6 POST a book (token)", f"v{version}", samples))
    return rows


def counting_overhead(app, url: str, requests: int, budget: float) -> list[str]:
    """GET one book (v2) with usage counting on and off, in alternating rounds on one database,
    so that a noisy machine slows both alike."""
    off = create_app(
        environ={"DATABASE_URL": url, "RATELIMIT_ENABLED": "false", "USAGE_COUNTING": "false"}
    )
    samples: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(ROUNDS):
        for label, served in (("on", app), ("off", off)):
            run = Runner(served.test_client(), requests, budget / (2 * ROUNDS))
            samples[label] += run.time("GET", "/api/v2/books/1")
    with off.app_context():
        db.engine.dispose()
    on, off_ms = statistics.median(samples["on"]), statistics.median(samples["off"])
    return [
        row("S1 GET one book, usage counting on", "v2", samples["on"]),
        row("S1 GET one book, usage counting off", "v2", samples["off"]),
        f"\nUsage counting costs {100 * (on - off_ms) / off_ms:+.1f} % on GET one book (p50).",
    ]


def page_memory(app) -> int:
    """Peak bytes traced while serving one v2 page of 100 books (after a warm-up request)."""
    client = app.test_client()
    client.get("/api/v2/books?per_page=100")
    tracemalloc.start()
    client.get("/api/v2/books?per_page=100")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def sizes(text: str) -> list[int]:
    values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("sizes are positive whole numbers, e.g. 10000,1000000")
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--sizes",
        type=sizes,
        default=sizes(os.environ.get("BENCH_SIZES") or "10000,1000000"),
        help="books per run, comma-separated (BENCH_SIZES; default 10000,1000000)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=int(os.environ.get("BENCH_REQUESTS") or 200),
        help="timed requests per scenario (BENCH_REQUESTS; default 200)",
    )
    parser.add_argument(
        "--budget", type=float, default=15.0, help="seconds at most per scenario (default 15)"
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    options = parser.parse_args()
    if options.database_url:
        refuse_unless_disposable(options.database_url)

    with tempfile.TemporaryDirectory() as workdir, open(os.devnull, "w") as devnull:
        for size in options.sizes:
            url = options.database_url or f"sqlite:///{workdir}/bench-{size}.db"
            # The request log writes to whatever sys.stderr is (api/requestlog.py).
            with contextlib.redirect_stderr(devnull):
                app, token, seeded = build(url, size)
                rows = measure(app, token, size, options.requests, options.budget)
                rows += counting_overhead(app, url, options.requests, options.budget)
                peak = page_memory(app)
                usage.flush(app)  # now, not at exit: the database is gone by then
                with app.app_context():
                    db.engine.dispose()
            database = make_url(url).get_backend_name()
            print(f"\n### {database}, {size:,} books (seeded in {seeded:.1f} s)\n")
            print("| scenario | version | p50 ms | p95 ms | req/s | n |")
            print("|---|---|---:|---:|---:|---:|")
            print("\n".join(rows))
            print(f"\nPeak traced memory, one v2 page of 100 books: {peak / 1024:.0f} KiB")
            sys.stdout.flush()
            if not options.database_url:
                Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
