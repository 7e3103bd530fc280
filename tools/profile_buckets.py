"""Fold py-spy's collapsed stacks into where a request's time goes, as a Markdown table.

    py-spy record --pid WORKER_PID --rate 250 --duration 12 --format raw -o s1.txt
    python tools/profile_buckets.py s1.txt [--top 15]

``--format raw`` writes one line per distinct stack, ``frame;frame;...;leaf COUNT`` with
frames like ``do_execute (sqlalchemy/engine/default.py:952)``. Each stack goes to the first
bucket below whose rule matches it, so a query run from a hook counts as SQL and a
``json.dumps`` in the request log counts as the request log. Percentages are of the worker's
non-idle samples (py-spy leaves out most of a sync worker's waiting in ``select`` for the
next connection), and, for all but the WSGI group, of the samples inside the app (all but
the WSGI group's), which vary less with the load on the machine.
Several files (runs of one scenario) are added together.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<path>.*):(?P<line>\d+)\)$")
STDLIB = set(sys.stdlib_module_names) | {"<frozen abc>", "<frozen os>"}

Frame = tuple[str, str]  # (function, path)
Rule = Callable[[list[Frame]], bool]


def parse_frame(text: str) -> Frame:
    match = FRAME.match(text)
    return (match["func"], match["path"]) if match else (text, "")


def top_module(path: str) -> str:
    return path.split("/", 1)[0].removesuffix(".py")


def any_frame(test: Callable[[str, str], bool]) -> Rule:
    return lambda stack: any(test(func, path) for func, path in stack)


def in_package(*prefixes: str) -> Rule:
    return any_frame(lambda _func, path: path.startswith(prefixes))


def calls(*names: str, path: str = "") -> Rule:
    wanted = set(names)
    return any_frame(lambda func, p: func.rsplit(".", 1)[-1] in wanted and p.startswith(path))


DRIVER_CALLS = {"do_execute", "do_executemany", "do_execute_no_params", "do_commit"}
FETCHES = {"fetchall", "fetchone", "fetchmany"}


def driver(stack: list[Frame]) -> bool:
    func, path = stack[-1]
    if path.startswith("sqlalchemy/engine/cursor.py") and func.rsplit(".", 1)[-1] in FETCHES:
        return True  # the leaf is the line calling the DB-API cursor: time spent in C
    return calls(*DRIVER_CALLS, path="sqlalchemy/engine/default.py")(stack) or in_package(
        "psycopg", "sqlite3/"
    )(stack)


def innermost_sqlalchemy(stack: list[Frame]) -> str | None:
    """Path of the innermost SQLAlchemy / Flask-SQLAlchemy frame that is not a utility."""
    for _func, path in reversed(stack):
        if path.startswith("sqlalchemy/util/"):
            continue
        if path.startswith(("sqlalchemy/", "flask_sqlalchemy/")):
            return path
    return None


TYPE_PATHS = ("sqlalchemy/dialects/", "sqlalchemy/sql/sqltypes.py", "sqlalchemy/sql/type_api.py")


def sqlalchemy_part(part: str) -> Rule:
    """The stack's innermost SQLAlchemy frame is in ``part``: fsa, types, orm, engine or sql."""

    def rule(stack: list[Frame]) -> bool:
        path = innermost_sqlalchemy(stack)
        if path is None:
            return False
        if path.startswith("flask_sqlalchemy/"):
            return part == "fsa"
        if path.startswith(TYPE_PATHS) or stack[-1][1] == "core/models.py":  # UTCDateTime
            return part == "types"
        if path.startswith("sqlalchemy/orm/"):
            return part == "orm"
        if path.startswith("sqlalchemy/engine/"):
            return part == "engine"
        return part == "sql"

    return rule


def outside_flask(stack: list[Frame]) -> bool:
    return not any(func == "Flask.__call__" for func, _path in stack)


def marshmallow(kind: str) -> Rule:
    def rule(stack: list[Frame]) -> bool:
        if not any(
            p.startswith("marshmallow/") or p == "api/representations.py" for _f, p in stack
        ):
            return False
        loading = any(f.rsplit(".", 1)[-1] in ("load", "load_query") for f, _p in stack)
        return loading == (kind == "load")

    return rule


def innermost_own(stack: list[Frame]) -> str:
    """Top-level package of the innermost frame outside the standard library."""
    for _func, path in reversed(stack):
        module = top_module(path)
        if module not in STDLIB:
            return module
    return ""


def innermost_in(*modules: str) -> Rule:
    return lambda stack: innermost_own(stack) in modules


LINK_FUNCS = {"page_links", "book_links", "list_headers", "link_header", "created_headers", "url"}


def links(stack: list[Frame]) -> bool:
    return calls("url_for")(stack) or any(
        path.startswith("api/") and func.rsplit(".", 1)[-1] in LINK_FUNCS for func, path in stack
    )


# (group, bucket, rule), first match wins.
BUCKETS: list[tuple[str, str, Rule]] = [
    ("WSGI", "gunicorn close_graceful: waiting for the client's FIN", calls("close_graceful")),
    ("SQL", "SQLite lower() UDF (Python, once per row scanned)", calls("_lower", path="core/")),
    ("SQL", "pool checkout/checkin (pre_ping SELECT 1, reset)", in_package("sqlalchemy/pool/")),
    ("SQL", "driver: execute/fetch/commit (sqlite3/psycopg)", driver),
    ("Flask", "Flask-SQLAlchemy session teardown", calls("_teardown_session")),
    ("SQL", "Flask-SQLAlchemy scoped session / get_bind", sqlalchemy_part("fsa")),
    ("SQL", "SQLAlchemy ORM (session, loading, attributes)", sqlalchemy_part("orm")),
    ("SQL", "SQLAlchemy statement build/compile/cache key", sqlalchemy_part("sql")),
    ("SQL", "SQLAlchemy Core execute/result", sqlalchemy_part("engine")),
    ("SQL", "SQLAlchemy type processing (datetimes)", sqlalchemy_part("types")),
    ("Auth", "password hashing", in_package("werkzeug/security.py", "hashlib")),
    ("Auth", "JWT verify (flask-jwt-extended, PyJWT)", in_package("flask_jwt_extended/", "jwt/")),
    ("Hooks", "request log (api/platform/requestlog.py)", in_package("api/platform/requestlog.py")),
    (
        "Hooks",
        "Flask-Limiter (disabled)",
        in_package("flask_limiter/", "limits/", "api/platform/ratelimit.py"),
    ),
    ("Hooks", "CORS (flask_cors after_request)", in_package("flask_cors/")),
    ("Hooks", "version select + headers", calls("select_version", "version_headers")),
    (
        "Hooks",
        "hardening: header size, nosniff, merge_vary",
        in_package("api/platform/hardening.py"),
    ),
    (
        "Hooks",
        "API-key-in-query check (api/platform/authentication.py)",
        calls("refuse_keys_in_query"),
    ),
    ("Presentation", "marshmallow dump (serialization)", marshmallow("dump")),
    ("Presentation", "marshmallow load (query/body validation)", marshmallow("load")),
    ("Presentation", "url_for / links / Link header", links),
    ("Presentation", "JSON decoding (request body)", calls("loads", "decode", path="json/")),
    ("Presentation", "JSON encoding (jsonify)", in_package("json/", "flask/json/")),
    ("WSGI", "gunicorn: accept, HTTP parse, WSGI environ, socket I/O", outside_flask),
    ("App", "app code (views, services, presenters)", innermost_in("api", "core")),
    (
        "Flask",
        "Flask/Werkzeug dispatch (contexts, routing, req/resp)",
        innermost_in("flask", "werkzeug"),
    ),
    ("Other", "other", lambda _s: True),
]


def read_stacks(paths: list[Path]) -> Counter:
    stacks: Counter = Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            text, _, count = line.rpartition(" ")
            stacks[tuple(parse_frame(f) for f in text.split(";"))] += int(count)
    return stacks


def classify(stacks: Counter) -> tuple[Counter, Counter]:
    """Samples per (group, bucket), and per (bucket, leaf frame)."""
    by_bucket: Counter = Counter()
    leaves: Counter = Counter()
    for stack, count in stacks.items():
        frames = list(stack)
        group, name, _rule = next(bucket for bucket in BUCKETS if bucket[2](frames))
        by_bucket[(group, name)] += count
        func, path = frames[-1]
        leaves[(name, f"{func} ({path})")] += count
    return by_bucket, leaves


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("raw", nargs="+", type=Path, help="py-spy --format raw output files")
    parser.add_argument("--top", type=int, default=0, help="list each bucket's N busiest leaves")
    parser.add_argument("--min", type=float, default=0.5, help="hide buckets under this %%")
    options = parser.parse_args(argv)

    by_bucket, leaves = classify(read_stacks(options.raw))
    total = sum(by_bucket.values()) or 1
    groups: Counter = Counter()
    for (group, _name), count in by_bucket.items():
        groups[group] += count

    def order(item):
        (group, _name), count = item
        return -groups[group], -count

    in_app = (total - groups["WSGI"]) or 1

    def share(group: str, count: int) -> str:
        return "" if group == "WSGI" else f"{100 * count / in_app:.1f}"

    print(f"samples: {total} ({in_app} inside the app)\n")
    print("| group | bucket | % of worker | % inside the app |\n|---|---|---:|---:|")
    for (group, name), count in sorted(by_bucket.items(), key=order):
        if 100 * count / total >= options.min:
            print(f"| {group} | {name} | {100 * count / total:.1f} | {share(group, count)} |")
    print("\n| group | % of worker | % inside the app |\n|---|---:|---:|")
    for group, count in groups.most_common():
        print(f"| {group} | {100 * count / total:.1f} | {share(group, count)} |")
    if options.top:
        for (_group, name), bucket_count in by_bucket.most_common():
            if 100 * bucket_count / total < options.min:
                continue
            print(f"\n{name}: busiest leaf frames (self time)")
            inside = Counter({leaf: n for (bucket, leaf), n in leaves.items() if bucket == name})
            for leaf, count in inside.most_common(options.top):
                print(f"  {100 * count / total:5.1f}%  {leaf}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
