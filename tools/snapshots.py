"""Rewrite the contract snapshots (tests/contract/snapshots/) from the current code.

    python tools/snapshots.py [--force]        (make snapshots [FORCE=1])

For every version the directory (``GET /api``) lists, builds the OpenAPI document
(``openapi-v<n>.json``) and runs the golden scenario (``golden-v<n>.json``) through HTTP on
apps made by ``create_app`` with the test suite's environment, each scenario on a fresh SQLite
database. A snapshot that already matches is left alone. A breaking change is refused (that
file is not written, the changes are printed, the exit status is 1): for a document, what
tools/openapi_diff.py reports; for golden responses, a status, header or body value that
changed or disappeared in the answer to the same request. ``--force`` writes breaking changes
of versions that are not frozen; v1 is frozen, and no option writes a breaking change to it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from api import create_app  # noqa: E402
from tests.conftest import TEST_NOW, base_environ  # noqa: E402
from tests.contract import frozen  # noqa: E402
from tools.openapi_diff import breaking_changes, report  # noqa: E402


def app_factory(url: str):
    """``make_app(**environ)`` on the database at ``url``, like the test suite's fixture."""

    def make_app(**environ):
        app = create_app(environ={**base_environ(url), **environ})
        app.config["CLOCK"] = lambda: TEST_NOW
        return app

    return make_app


def write(kind: str, version: str, current, breaking: list[str], force: bool) -> bool:
    """Write one snapshot unless the change is breaking and not allowed; False when refused."""
    path = frozen.snapshot_path(kind, version)
    name = path.relative_to(ROOT)
    if path.exists() and frozen.load(path) == current:
        print(f"{name}: up to date")
        return True
    if breaking:
        allowed = force and version not in frozen.FROZEN
        print(f"{name}: {len(breaking)} breaking change(s){'' if allowed else ', not written'}:")
        for line in breaking:
            print(f"  {line}")
        if not allowed:
            if version in frozen.FROZEN:
                print(f"  v{version} is frozen: undo the change (no option writes it)")
            else:
                print("  undo the change, or write it anyway with `make snapshots FORCE=1`")
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(frozen.dumps(current), encoding="utf-8")
    print(f"{name}: {'written' if not breaking else 'written with breaking changes'}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--force", action="store_true", help="write breaking changes of versions not frozen"
    )
    options = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as workdir:
        client = app_factory(f"sqlite:///{workdir}/documents.db")().test_client()
        versions = frozen.served_versions(client)
        for version in versions:
            document = frozen.openapi_document(client, version)
            path = frozen.snapshot_path("openapi", version)
            old = frozen.load(path) if path.exists() else None
            breaking = report(breaking_changes(old, document)) if old is not None else []
            ok &= write("openapi", version, document, breaking, options.force)

            make_app = app_factory(f"sqlite:///{workdir}/golden-v{version}.db")
            with make_app().app_context(), contextlib.redirect_stderr(io.StringIO()):
                upgrade()  # quietly: alembic logs each migration on stderr
            steps = frozen.run_scenario(make_app, version)
            path = frozen.snapshot_path("golden", version)
            old = frozen.load(path) if path.exists() else []
            changes = frozen.golden_differences(old, steps)
            breaking = [message for kind, message in changes if frozen.is_breaking(kind)]
            ok &= write("golden", version, steps, breaking, options.force)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
