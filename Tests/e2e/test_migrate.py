"""`spyglass migrate --to postgres://…`: a database the real sentry-sdk filled, copied from SQLite to PostgreSQL."""

import json
import sqlite3

import psycopg
import requests
import sentry_sdk

from conftest import clean_env, run_cli


def capture_missing_key():
    """A KeyError caught where it is raised: the same stack, so the same issue, wherever it is called from."""
    try:
        {}["missing"]
    except KeyError as error:
        sentry_sdk.capture_exception(error)


def fill(tmp_path, start_server):
    """A SQLite database with what a team makes in a day: events of several issues and releases, an attachment,
    release health sessions, a resolved issue, an API token."""
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    sentry_sdk.init(dsn=server.dsn, release="shop@1.0.0", environment="production")
    sentry_sdk.set_user({"id": "42", "email": "ada@example.com"})
    for amount in range(5):
        try:
            raise ValueError(f"payment declined for {amount}")
        except ValueError as error:
            sentry_sdk.capture_exception(error)
    with sentry_sdk.new_scope() as scope:
        scope.add_attachment(bytes=b"order=17\nstate=failed\n", filename="order.txt", content_type="text/plain")
        event_id = sentry_sdk.capture_message("checkout is slow", level="warning")
    scope = sentry_sdk.get_isolation_scope()
    scope.start_session()
    scope.end_session()
    sentry_sdk.flush(30)
    sentry_sdk.init(dsn=server.dsn, release="shop@1.1.0", environment="staging")
    capture_missing_key()
    sentry_sdk.flush(30)
    token = run_cli("token", "create", "--user", "admin@example.com", data_dir=data).stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    issues = requests.get(f"{server.url}/api/0/projects/spyglass/default/issues/", headers=headers, timeout=10).json()
    assert len(issues) == 3, issues
    resolved = requests.put(
        f"{server.url}/api/0/issues/{issues[0]['id']}/", headers=headers, json={"status": "resolved"}, timeout=10
    )
    assert resolved.status_code == 200, resolved.text
    assert server.stop() == 0
    return data, server.dsn, headers, issues


def sqlite_counts(data) -> dict:
    """Rows per table of both SQLite files (the log lines have their own)."""
    counts = {}
    for file in ("spyglass.sqlite", "spyglass-logs.sqlite"):
        with sqlite3.connect(data / file) as db:
            tables = [
                name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if name not in ("grdb_migrations", "sqlite_sequence") and not name.startswith("issue_search_")
            ]
            counts.update({table: db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables})
    return counts


def test_migrate_copies_every_table_with_counts_checked_and_refuses_a_database_that_holds_data(
    tmp_path, start_server, postgres_url
):
    data, _, _, _ = fill(tmp_path, start_server)
    # Text with U+0000, as SQLite databases from before ingest cleaned derived text hold it (PostgreSQL's text cannot):
    # the copy carries what Spyglass reads from SQLite (GRDB reads text up to the NUL) instead of failing.
    with sqlite3.connect(data / "spyglass.sqlite") as db:
        db.execute("UPDATE issue SET culprit = 'checkout' || char(0) || 'pay' WHERE id = (SELECT min(id) FROM issue)")
    expected = sqlite_counts(data)

    copied = run_cli("migrate", "--to", postgres_url, "--json", data_dir=data)
    counts = {entry["table"]: entry["rows"] for entry in json.loads(copied.stdout)}
    assert counts == expected
    assert counts["event"] == 7 and counts["attachment"] == 1 and counts["release_sessions"] == 1 and counts["release"] == 2

    with psycopg.connect(postgres_url) as db:
        for table, rows in expected.items():
            assert db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == rows, table
        # Values as stored: the same issues with their counters and states, the same compressed payload bytes.
        pg_issues = db.execute("SELECT id, short_id, title, times_seen, status FROM issue ORDER BY id").fetchall()
        assert db.execute("SELECT culprit FROM issue ORDER BY id LIMIT 1").fetchone()[0] == "checkout"
        pg_payloads = db.execute("SELECT event_id, payload FROM event ORDER BY id").fetchall()
        # New rows get fresh ids after the copied ones (the identities were moved past them).
        next_id = db.execute(
            "INSERT INTO project (slug, name, created_at) VALUES ('probe', 'Probe', 'now') RETURNING id"
        ).fetchone()[0]
        db.rollback()
    with sqlite3.connect(data / "spyglass.sqlite") as db:
        assert pg_issues == db.execute("SELECT id, short_id, title, times_seen, status FROM issue ORDER BY id").fetchall()
        assert [(e, bytes(p)) for e, p in pg_payloads] == db.execute("SELECT event_id, payload FROM event ORDER BY id").fetchall()
        assert next_id > db.execute("SELECT max(id) FROM project").fetchone()[0]

    again = run_cli("migrate", "--to", postgres_url, data_dir=data, check=False)
    assert again.returncode == 1
    assert "already holds data (users: 1, projects: 1)" in again.stderr


def test_a_migrated_database_serves_the_same_issues_to_the_same_token_and_dsn(tmp_path, start_server, postgres_url):
    data, dsn, headers, before = fill(tmp_path, start_server)
    run_cli("migrate", "--to", postgres_url, data_dir=data)

    # The same team, now on PostgreSQL: another directory, so nothing can come from the SQLite file.
    server = start_server(data_dir=tmp_path / "elsewhere", env=clean_env(SPYGLASS_DATABASE_URL=postgres_url))
    assert server.dsn.split("@")[0] == dsn.split("@")[0]  # the project's key, kept
    after = requests.get(
        f"{server.url}/api/0/projects/spyglass/default/issues/", headers=headers, params={"query": ""}, timeout=10)
    assert after.status_code == 200, after.text
    assert sorted((i["id"], i["title"], i["count"]) for i in after.json()) == sorted((i["id"], i["title"], i["count"]) for i in before)
    resolved = requests.get(f"{server.url}/api/0/issues/{before[0]['id']}/", headers=headers, timeout=10).json()
    assert resolved["status"] == "resolved"
    events = requests.get(f"{server.url}/api/0/issues/{before[0]['id']}/events/", headers=headers, timeout=10).json()
    assert len(events) == int(before[0]["count"])

    # Events sent to the old DSN land in the copied issue, with new ids after the copied ones.
    sentry_sdk.init(dsn=server.dsn, release="shop@1.1.0", environment="staging")
    capture_missing_key()
    sentry_sdk.flush(30)
    titles = {i["title"]: int(i["count"]) for i in requests.get(
        f"{server.url}/api/0/projects/spyglass/default/issues/", headers=headers, params={"query": ""}, timeout=10).json()}
    assert titles["KeyError: 'missing'"] == 2 and len(titles) == 3


def test_migrate_names_a_bad_url_and_an_unreachable_server(tmp_path):
    bad = run_cli("migrate", "--to", "mysql://root@localhost/db", data_dir=tmp_path / "data", check=False)
    assert bad.returncode == 2
    assert "database URL" in bad.stderr and "postgres://" in bad.stderr
