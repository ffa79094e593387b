"""`spyglass serve`: zero-config start, restart, health endpoints, logs, settings and shutdown."""

import json
import re
import signal
import sqlite3
import subprocess

import pytest
import requests
import sentry_sdk.utils

from conftest import BIN, DSN_RE, clean_env, run_cli



def test_first_start_creates_everything_and_a_restart_reuses_it(tmp_path, start_server):
    server = start_server(cwd=tmp_path)  # no --data-dir: ./spyglass-data in the working directory
    data_dir = tmp_path / "spyglass-data"
    assert (data_dir / "spyglass.sqlite").is_file()

    port = int(server.url.rsplit(":", 1)[1])
    assert server.find("Spyglass is listening")["url"] == f"http://127.0.0.1:{port}"
    created = server.find("admin account created; log in with this one-time password and change it")
    assert created["spyglass.admin_email"] == "admin@example.com"
    password = created["spyglass.admin_password"]
    assert len(password) == 20
    match = DSN_RE.match(server.dsn)
    assert match, server.dsn
    key, dsn_port, project_id = match.groups()
    assert (int(dsn_port), project_id) == (port, "1")
    assert server.dsn_line["spyglass.project"] == "default"
    # The real Python SDK accepts the DSN and derives the endpoint from it.
    parsed = sentry_sdk.utils.Dsn(server.dsn)
    assert parsed.public_key == key
    assert parsed.to_auth().get_api_url().endswith(f":{port}/api/1/envelope/")

    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    ready = requests.get(f"{server.url}/readyz", timeout=5)
    assert (ready.status_code, ready.text) == (200, "ready\n")
    metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    assert 'spyglass_http_requests_total{method="GET",route="/healthz",status="200"} 1' in metrics
    assert 'spyglass_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="+Inf"} 1' in metrics

    assert server.stop() == 0
    assert server.find("database closed") is not None

    # The database is WAL, the admin is a member of `default`, the password is stored as bcrypt.
    with sqlite3.connect(data_dir / "spyglass.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        users = db.execute("SELECT id, email, password_hash, is_admin FROM user").fetchall()
        assert len(users) == 1 and users[0][1] == "admin@example.com" and users[0][3] == 1
        assert users[0][2].startswith("$2") and password not in users[0][2]
        assert db.execute("SELECT project_id, user_id FROM project_member").fetchall() == [(1, users[0][0])]
        migrations = db.execute("SELECT identifier FROM grdb_migrations").fetchall()

    again = start_server(cwd=tmp_path)
    assert not any("admin_password" in line for line in again.raw), again.raw
    assert again.find("admin account created; log in with this one-time password and change it") is None
    assert DSN_RE.match(again.dsn).group(1, 3) == (key, "1")
    assert again.stop() == 0
    with sqlite3.connect(data_dir / "spyglass.sqlite") as db:
        assert db.execute("SELECT count(*) FROM user").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM project").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM project_key").fetchone()[0] == 1
        assert db.execute("SELECT identifier FROM grdb_migrations").fetchall() == migrations


def test_settings_come_from_the_environment(tmp_path, start_server):
    env = clean_env(
        SPYGLASS_DATA_DIR=str(tmp_path / "from-env"),
        SPYGLASS_ADMIN_EMAIL="ops@example.com",
        SPYGLASS_ADMIN_PASSWORD="correct-horse",
        SPYGLASS_BASE_URL="https://errors.example.com",
        SPYGLASS_LOG_LEVEL="notice",
    )
    server = start_server(env=env)
    assert (tmp_path / "from-env" / "spyglass.sqlite").is_file()
    created = server.find("admin account created with the password from SPYGLASS_ADMIN_PASSWORD")
    assert created["spyglass.admin_email"] == "ops@example.com"
    assert not any("correct-horse" in line for line in server.raw)
    assert re.match(r"^https://[0-9a-f]{32}@errors\.example\.com/1$", server.dsn), server.dsn
    assert server.find("Spyglass is listening")["url"] == "https://errors.example.com"
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    assert server.stop(signal.SIGINT) == 0
    # At level notice, the info lines (request lines, "database closed") are not written.
    assert all(line["level"] in ("notice", "warning", "error", "critical") for line in server.lines)


def test_json_logs_have_one_object_per_line_and_one_line_per_request(tmp_path, start_server):
    server = start_server(data_dir=tmp_path / "data", log_format="json")
    requests.get(f"{server.url}/healthz", timeout=5)
    requests.get(f"{server.url}/missing?sentry_key=secret", timeout=5)
    server.wait_for(lambda f: f.get("http.path") == "/missing")
    assert server.stop() == 0
    for raw in server.raw:
        assert isinstance(json.loads(raw), dict)
    access = [f for f in server.lines if f.get("msg") == "request"]
    assert [(f["http.method"], f["http.route"], f["http.status"]) for f in access] == [
        ("GET", "/healthz", "200"),
        ("GET", "NotFound", "404"),
    ]
    assert all(float(f["duration_ms"]) >= 0 and f["ts"].endswith("Z") for f in access)
    assert not any("secret" in raw for raw in server.raw)


def run_serve(*args, env=None, cwd=None):
    return subprocess.run([BIN, "serve", *args], env=env or clean_env(), cwd=cwd, capture_output=True, text=True, timeout=30)


def test_bad_settings_stop_with_one_line_naming_the_setting(tmp_path):
    (tmp_path / "a-file").write_text("x")
    cases = [
        (["--port", "abc"], None, "--port / SPYGLASS_PORT"),
        ([], clean_env(SPYGLASS_PORT="abc"), "--port / SPYGLASS_PORT"),
        (["--data-dir", str(tmp_path / "a-file" / "data")], None, "--data-dir / SPYGLASS_DATA_DIR"),
        (["--log-format", "xml"], None, "--log-format / SPYGLASS_LOG_FORMAT"),
        (["--base-url", "not a url"], None, "--base-url / SPYGLASS_BASE_URL"),
        ([], clean_env(SPYGLASS_ADMIN_PASSWORD="short"), "SPYGLASS_ADMIN_PASSWORD"),
    ]
    for args, env, setting in cases:
        result = run_serve(*args, env=env, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"spyglass: invalid {setting}: "), result.stderr
    assert "Not a directory" in run_serve("--data-dir", str(tmp_path / "a-file" / "data")).stderr
    # Nothing was created for the refused starts.
    assert not (tmp_path / "spyglass-data").exists()


def test_help_documents_every_setting():
    text = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for flag, variable in [
        ("--host", "SPYGLASS_HOST"), ("--port", "SPYGLASS_PORT"), ("--data-dir", "SPYGLASS_DATA_DIR"),
        ("--base-url", "SPYGLASS_BASE_URL"), ("--admin-email", "SPYGLASS_ADMIN_EMAIL"),
        ("--org", "SPYGLASS_ORG"), ("--log-format", "SPYGLASS_LOG_FORMAT"), ("--log-level", "SPYGLASS_LOG_LEVEL"),
        ("--max-event-size", "SPYGLASS_MAX_EVENT_SIZE"), ("--max-envelope-size", "SPYGLASS_MAX_ENVELOPE_SIZE"),
        ("--max-compressed-size", "SPYGLASS_MAX_COMPRESSED_SIZE"), ("--ingest-queue", "SPYGLASS_INGEST_QUEUE"),
        ("--retention-days", "SPYGLASS_RETENTION_DAYS"), ("--max-events-per-project", "SPYGLASS_MAX_EVENTS_PER_PROJECT"),
        ("--retention-interval", "SPYGLASS_RETENTION_INTERVAL"), ("--log-retention-days", "SPYGLASS_LOG_RETENTION_DAYS"),
    ]:
        assert flag in text and variable in text, flag
    assert "SPYGLASS_ADMIN_PASSWORD" in text


def test_sigterm_lets_an_in_flight_request_finish(tmp_path, start_server):
    """An event is answered once committed; while another connection holds SQLite's write lock the request
    waits inside its handler. SIGTERM arrives then: the server must finish the request before it exits."""
    from concurrent.futures import ThreadPoolExecutor
    import time

    server = start_server(data_dir=tmp_path / "data")
    key, _, project = DSN_RE.match(server.dsn).groups()
    event_id = "9ec79c33ec9942ab8353589fcb2e04dc"
    body = json.dumps({"event_id": event_id}) + "\n" + json.dumps({"type": "event"}) + "\n" + json.dumps({"message": "in flight"}) + "\n"
    lock = sqlite3.connect(tmp_path / "data" / "spyglass.sqlite", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            requests.post, f"{server.url}/api/{project}/envelope/", data=body, timeout=30,
            headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"})
        time.sleep(0.7)
        assert not pending.done()
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.7)
        assert server.proc.poll() is None, "exited with a request in flight"
        lock.execute("ROLLBACK")
        lock.close()
        response = pending.result()
    assert (response.status_code, response.json()) == (200, {"id": event_id})
    assert server.stop() == 0
    # New connections are refused once it has stopped.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/healthz", timeout=2)
