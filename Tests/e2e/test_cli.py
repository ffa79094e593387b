"""The administration commands, on fresh directories and next to a running server."""

import hashlib
import json
import re
import sqlite3
import subprocess

import pytest

from conftest import BIN, clean_env, query, run_cli

# Administration works the same on both storage backends (backup and check are SQLite's own).
pytestmark = pytest.mark.backends


def test_user_commands_work_on_a_fresh_directory(tmp_path):
    data = tmp_path / "fresh"
    created = json.loads(
        run_cli("user", "create", "--email", "Dev@Example.com", "--password", "hunter2hunter2", "--json", data_dir=data).stdout
    )
    assert created["email"] == "dev@example.com" and created["isAdmin"] is False
    run_cli("user", "create", "--email", "boss@example.com", "--password", "hunter2hunter2", "--admin", data_dir=data)
    users = json.loads(run_cli("user", "list", "--json", data_dir=data).stdout)
    assert [(u["email"], u["isAdmin"]) for u in users] == [("dev@example.com", False), ("boss@example.com", True)]
    assert all("password" not in json.dumps(u).lower() for u in users)
    table = run_cli("user", "list", data_dir=data).stdout.splitlines()
    assert table[0].split() == ["ID", "EMAIL", "ADMIN", "ACTIVE", "CREATED"] and len(table) == 3

    duplicate = run_cli("user", "create", "--email", "dev@example.com", "--password", "whatever12", data_dir=data, check=False)
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == "spyglass: a user with e-mail dev@example.com already exists"
    weak = run_cli("user", "create", "--email", "x@example.com", "--password", "short", data_dir=data, check=False)
    assert weak.returncode == 2 and "at least 8 characters" in weak.stderr
    assert len(json.loads(run_cli("user", "list", "--json", data_dir=data).stdout)) == 2

    # An admin created after a project is a member of it, like the admins a new project starts with.
    run_cli("project", "create", "Shop", data_dir=data)
    run_cli("user", "create", "--email", "chief@example.com", "--password", "hunter2hunter2", "--admin", data_dir=data)
    members = query(
        data, "SELECT user.email, project_member.role FROM project_member JOIN user ON user.id = project_member.user_id ORDER BY user.email"
    )
    assert members == [("boss@example.com", "admin"), ("chief@example.com", "admin")]


def test_projects_keep_imported_dsns(tmp_path):
    data = tmp_path / "data"
    env = clean_env(SPYGLASS_BASE_URL="https://sentry.example.com")
    key = "0123456789abcdef0123456789abcdef"
    created = json.loads(
        run_cli("project", "create", "Billing API", "--id", "17", "--public-key", key.upper(), "--json", data_dir=data, env=env).stdout
    )
    assert (created["id"], created["slug"], created["name"]) == (17, "billing-api", "Billing API")
    assert created["dsn"] == f"https://{key}@sentry.example.com/17"
    assert run_cli("project", "dsn", "billing-api", data_dir=data, env=env).stdout.strip() == created["dsn"]

    run_cli("project", "create", "Web", "--slug", "web", data_dir=data)
    projects = json.loads(run_cli("project", "list", "--json", data_dir=data).stdout)
    assert [(p["id"], p["slug"]) for p in projects] == [(17, "billing-api"), (18, "web")]
    assert re.match(r"^http://[0-9a-f]{32}@127\.0\.0\.1:8000/18$", projects[1]["dsn"])
    # --base-url wins over the environment.
    dsn = run_cli("project", "dsn", "web", "--base-url", "http://errors.internal:9000", data_dir=data, env=env).stdout.strip()
    assert re.match(r"^http://[0-9a-f]{32}@errors\.internal:9000/18$", dsn)

    for args, message in [
        (["Other", "--id", "17"], 'project id 17 is taken by project "billing-api"'),
        (["Other", "--public-key", key], f"public key {key} is already in use"),
        (["Billing API"], 'slug "billing-api" is taken'),
        (["Other", "--public-key", "xyz"], "must be 32 hexadecimal digits"),
    ]:
        result = run_cli("project", "create", *args, data_dir=data, check=False)
        assert result.returncode != 0 and message in result.stderr, (args, result.stderr)
    missing = run_cli("project", "dsn", "nope", data_dir=data, check=False)
    assert missing.returncode == 1 and 'no project with slug "nope"' in missing.stderr
    assert len(json.loads(run_cli("project", "list", "--json", data_dir=data).stdout)) == 2


def test_tokens_are_printed_once_and_stored_hashed(tmp_path):
    data = tmp_path / "data"
    run_cli("user", "create", "--email", "ci@example.com", "--password", "hunter2hunter2", data_dir=data)
    out = run_cli("token", "create", "--user", "ci@example.com", "--name", "deploys", data_dir=data).stdout
    token = out.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", token), out
    rows = query(data, "SELECT name, token_hash FROM api_token")
    assert rows == [("deploys", hashlib.sha256(token.encode()).hexdigest())]
    unknown = run_cli("token", "create", "--user", "nobody@example.com", data_dir=data, check=False)
    assert unknown.returncode == 1 and "no user with e-mail nobody@example.com" in unknown.stderr


@pytest.mark.sqlite_only
def test_backup_while_the_server_runs_and_check(tmp_path, start_server):
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    run_cli("project", "create", "Shop", data_dir=data)
    backup = tmp_path / "copy.sqlite"
    out = run_cli("backup", str(backup), data_dir=data).stdout
    assert str(backup) in out
    with sqlite3.connect(backup) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [r[0] for r in db.execute("SELECT slug FROM project ORDER BY id")] == ["default", "shop"]
        assert db.execute("SELECT count(*) FROM user").fetchone()[0] == 1
    # Never overwrites.
    again = run_cli("backup", str(backup), data_dir=data, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    # The backup opens as a data directory of its own.
    restored = tmp_path / "restored"
    restored.mkdir()
    backup.rename(restored / "spyglass.sqlite")
    assert run_cli("check", data_dir=restored).stdout.strip() == "ok"
    assert json.loads(run_cli("check", "--json", data_dir=data).stdout) == {"ok": True, "problems": []}
    assert server.stop() == 0


@pytest.mark.sqlite_only
def test_check_reports_broken_references(tmp_path):
    data = tmp_path / "data"
    run_cli("project", "create", "Shop", data_dir=data)
    with sqlite3.connect(data / "spyglass.sqlite") as db:
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("DELETE FROM project")
    result = run_cli("check", "--json", data_dir=data, check=False)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and any("project_key" in p for p in report["problems"])


@pytest.mark.parametrize(
    "command",
    [["serve"], ["user", "create"], ["user", "list"], ["project", "create"], ["project", "list"],
     ["project", "dsn"], ["project", "rate-limit"], ["token", "create"], ["event", "show"], ["backup"], ["check"]],
)
def test_every_command_has_help_and_takes_a_data_dir(command):
    result = subprocess.run([BIN, *command, "--help"], capture_output=True, text=True, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert "USAGE: spyglass " + " ".join(command) in result.stdout
    assert "--data-dir" in result.stdout


def test_project_dsns_point_where_the_server_last_served(tmp_path, start_server):
    """A server on another port or base URL records it; `project dsn` and `project list` print DSNs that reach it."""
    import sentry_sdk

    data = tmp_path / "data"
    server = start_server(data_dir=data)  # a free port, not 8000
    host = server.url.removeprefix("http://")
    dsn = run_cli("project", "dsn", "default", data_dir=data).stdout.strip()
    assert re.match(rf"^http://[0-9a-f]{{32}}@{re.escape(host)}/1$", dsn), (dsn, host)
    assert json.loads(run_cli("project", "list", "--json", data_dir=data).stdout)[0]["dsn"] == dsn
    # The printed DSN reaches the server.
    sentry_sdk.init(dsn=dsn)
    sentry_sdk.capture_message("reached through the printed DSN")
    sentry_sdk.flush()
    server.stop()
    assert query(data, "SELECT count(*) FROM event") == [(1,)]
    # Told otherwise, the CLI prints what it is told; a server started under a base URL records that one.
    told = run_cli("project", "dsn", "default", "--base-url", "https://errors.example.com", data_dir=data).stdout
    assert told.strip().endswith("@errors.example.com/1")
    server = start_server(data_dir=data, env=clean_env(SPYGLASS_BASE_URL="https://spyglass.example.org"))
    assert run_cli("project", "dsn", "default", data_dir=data).stdout.strip().endswith("@spyglass.example.org/1")
