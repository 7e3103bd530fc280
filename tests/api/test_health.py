"""/health tells an operator when the database schema is behind the migrations, in both versions."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from core.extensions import db
from core.services import health as health_service
from tests.conftest import Api, watch_driver

OUTDATED = "database_schema_outdated"


@pytest.fixture
def scratch_url(make_app, database_url, tmp_path):
    """An empty database on the test's backend, apart from the shared one."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    shared = sa.make_url(database_url)
    name = f"{shared.database}_scratch_{uuid.uuid4().hex[:12]}"  # keeps "test" in the name
    server = sa.create_engine(shared, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield shared.set(database=name).render_as_string(hide_password=False)
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    server.dispose()


@pytest.fixture
def scratch_app(make_app, scratch_url):
    return make_app(DATABASE_URL=scratch_url)


def assert_schema_outdated(api: Api, response) -> None:
    assert response.status_code == 503
    assert response.headers["API-Version"] == api.version
    assert int(response.headers["Retry-After"]) > 0
    error = api.error(response)
    assert error["reason"] == OUTDATED
    assert "flask --app wsgi db upgrade" in error["message"]


def test_health_is_200_with_one_query_when_the_schema_is_at_the_head(
    api, app, count_queries, monkeypatch
):
    """One statement, given to the driver on one pooled connection."""
    api.get("/health")  # the migrations' heads are read once, on the first request
    driver = watch_driver(app, monkeypatch)
    with count_queries(driver=False) as statements:
        response = api.get("/health")
    assert response.status_code == 200
    assert api.data(response) == {"status": "ok", "database": "ok"}
    assert driver.statements == [health_service.VERSION_QUERY]
    assert len(driver.checkouts) == 1
    assert statements == []  # nothing else went through SQLAlchemy


def test_health_is_503_when_the_schema_is_at_an_older_revision(scratch_app, version):
    with scratch_app.app_context():
        upgrade()
        downgrade(revision="0002")
    api = Api(scratch_app.test_client(), version)
    assert_schema_outdated(api, api.get("/health"))


def test_health_is_503_when_the_database_was_never_migrated(scratch_app, version):
    api = Api(scratch_app.test_client(), version)
    assert_schema_outdated(api, api.get("/health"))
    assert_schema_outdated(api, api.client.get("/api/health", headers={"API-Version": version}))


def test_health_recovers_once_the_operator_upgrades(scratch_app, version):
    api = Api(scratch_app.test_client(), version)
    assert api.get("/health").status_code == 503
    with scratch_app.app_context():
        upgrade()
    response = api.get("/health")
    assert response.status_code == 200
    assert api.data(response) == {"status": "ok", "database": "ok"}


def test_a_database_ahead_of_the_migrations_is_not_at_the_head(ctx):
    heads = health_service.migration_heads(ctx.extensions["migrate"].directory)
    assert health_service.database_status(heads) == health_service.OK
    assert health_service.database_status(frozenset({"9999"})) == health_service.SCHEMA_OUTDATED


def test_the_heads_are_the_last_migration(ctx):
    # Revisions are numbered like their files (0001_..., 0002_...): the head is the highest.
    directory = Path(ctx.extensions["migrate"].directory) / "versions"
    last = max(path.name.split("_", 1)[0] for path in directory.glob("[0-9]*_*.py"))
    assert health_service.migration_heads(ctx.extensions["migrate"].directory) == {last}


def test_the_heads_are_alembics_own(ctx):
    from alembic.script import ScriptDirectory

    directory = ctx.extensions["migrate"].directory
    assert health_service.migration_heads(directory) == set(ScriptDirectory(directory).get_heads())


def test_heads_of_a_branched_history_are_every_unrevised_revision(tmp_path):
    versions = tmp_path / "versions"
    versions.mkdir()
    scripts = {
        "a.py": 'revision = "a"\ndown_revision = None\n',
        "b.py": 'revision = "b"\ndown_revision = "a"\n',
        "c.py": 'revision: str = "c"\ndown_revision = "a"\n',
        "d.py": 'revision = "d"\ndown_revision = ("b", "x")\n',
        "helpers.py": "VALUE = 1\n",
    }
    for name, text in scripts.items():
        (versions / name).write_text(text)
    assert health_service.migration_heads(str(tmp_path)) == {"c", "d"}


def test_a_failed_read_on_a_reachable_database_is_tried_again(ctx, monkeypatch):
    """A connection dropped under the first query is not mistaken for a missing schema."""
    heads = health_service.migration_heads(ctx.extensions["migrate"].directory)
    answers = iter([None, heads])
    monkeypatch.setattr(health_service, "_schema_revisions", lambda: next(answers))
    assert health_service.database_status(heads) == health_service.OK
    db.session.remove()
