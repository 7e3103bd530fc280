"""Benchmark: latency of the main requests and memory per list page, on a seeded catalogue.

    python tools/bench.py [--books N] [--requests N] [--database-url URL]

Runs in-process with Flask's test client (no network), so the figures are the app's own
cost: routing, validation, SQL, presentation. Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from api import create_app  # noqa: E402
from core.config import utc_now  # noqa: E402
from core.extensions import db  # noqa: E402
from core.models import Book  # noqa: E402
from core.services import auth  # noqa: E402


def timed(client, count: int, method: str, url: str, **kwargs) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.open(url, method=method, **kwargs)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code < 400, (url, response.status_code, response.get_json())
    return samples


def report(name: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(
        f"{name:<40} n={len(samples):<5} p50={statistics.median(samples):7.2f} ms  "
        f"p95={p95:7.2f} ms  {1000 / statistics.mean(samples):8.0f} req/s"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--books", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        url = options.database_url or f"sqlite:///{workdir}/bench.db"
        app = create_app(
            environ={"DATABASE_URL": url, "RATELIMIT_ENABLED": "false", "REQUEST_LOG": "false"}
        )
        with app.app_context():
            upgrade()
            now = utc_now()
            db.session.execute(
                insert(Book),
                [
                    {
                        "title": f"Title {n:06d}",
                        "author": f"Author {n % 500}",
                        "year": 1900 + n % 120,
                        "isbn": f"{9780000000000 + n}",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(options.books)
                ],
            )
            db.session.commit()
            user = auth.create_admin("bench@example.com", "bench-password")
            token = auth.issue_tokens(user).access_token
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        n = options.requests
        print(f"database={url.split(':', 1)[0]} books={options.books}")
        for version in ("1", "2"):
            base = f"/api/v{version}"
            report(f"v{version} GET /books (20 per page)", timed(client, n, "GET", f"{base}/books"))
            report(
                f"v{version} GET /books?per_page=100&sort=title",
                timed(client, n, "GET", f"{base}/books?per_page=100&sort=title&order=asc"),
            )
            report(
                f"v{version} GET /books?search=00&page=3",
                timed(client, n, "GET", f"{base}/books?search=00&page=3"),
            )
            report(f"v{version} GET /books/<id>", timed(client, n, "GET", f"{base}/books/42"))
            report(
                f"v{version} PUT /books/<id> (signed in)",
                timed(client, n, "PUT", f"{base}/books/7", json={"year": 2001}, headers=headers),
            )
        tracemalloc.start()
        client.get("/api/v2/books?per_page=100")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{'peak memory, one v2 page of 100 books':<40} {peak / 1024:.0f} KiB")
        with app.app_context():
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
