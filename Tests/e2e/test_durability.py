"""200 means stored: kill -9 the server under load, then every acknowledged event and log line must be stored (SQLite
or PostgreSQL); crash PostgreSQL itself under load, and every acknowledged event is still there when it has recovered."""

import collections
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest
import requests

from conftest import ROOT, Load, clean_env, load_envelope, query

# No acknowledged event is lost, on either backend.
pytestmark = pytest.mark.backends


def test_every_acknowledged_event_survives_sigkill(tmp_path, start_server):
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    load = Load(server)
    time.sleep(2.0)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    load.stop()
    acknowledged = load.acknowledged

    assert len(acknowledged) > 100, "the load generator got too few answers to mean anything"
    stored = {row[0] for row in query(data, "SELECT event_id FROM event")}
    missing = [event_id for event_id in acknowledged if event_id not in stored]
    assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged events were lost"

    # The database opens again after the crash and the server starts on it.
    again = start_server(data_dir=data)
    assert requests.get(f"{again.url}/readyz", timeout=5).status_code == 200
    assert again.stop() == 0


def test_every_acknowledged_log_line_survives_sigkill(tmp_path, start_server):
    """Log lines have a writer of their own (and on SQLite a database file): killed under a load of events and log
    envelopes at once, the server has stored every line of every acknowledged envelope and every acknowledged event,
    and never part of an envelope's lines."""
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    events = Load(server, clients=8)
    lines = Load(server, clients=8, log_lines=50)
    time.sleep(2.0)
    # While the events keep error ingest busy the lines are stored at a bounded pace (SPYGLASS_LOG_SHARE_UNDER_LOAD):
    # enough of both are acknowledged a few seconds later.
    deadline = time.monotonic() + 30
    while (len(lines.acknowledged) <= 20 or len(events.acknowledged) <= 20) and time.monotonic() < deadline:
        time.sleep(0.2)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    events.stop()
    lines.stop()

    assert len(lines.acknowledged) > 20 and len(events.acknowledged) > 20, "too few answers to mean anything"
    stored = collections.Counter(body.rsplit(" ", 1)[0] for (body,) in query(data, "SELECT body FROM log_entry"))
    missing = [marker for marker in lines.acknowledged if stored[marker] != 50]
    assert missing == [], f"{len(missing)} of {len(lines.acknowledged)} acknowledged envelopes lost lines"
    assert set(stored.values()) == {50}, "an envelope's lines are stored whole or not at all"
    stored_events = {row[0] for row in query(data, "SELECT event_id FROM event")}
    assert [event_id for event_id in events.acknowledged if event_id not in stored_events] == []

    again = start_server(data_dir=data)
    assert requests.get(f"{again.url}/readyz", timeout=5).status_code == 200
    assert again.stop() == 0


@pytest.mark.postgres_only
def test_every_acknowledged_event_survives_a_postgresql_crash(tmp_path, start_server):
    """An immediate shutdown of PostgreSQL under load (a crash: WAL not yet written is lost, recovery replays the rest)
    loses no acknowledged event: the writer answers only what its COMMIT made durable. While PostgreSQL is down, an
    event or API request is answered within seconds with 503 and the reason (not held until the client gives up),
    and once PostgreSQL is back the server stores again within seconds, under load. On a cluster of its own, which the test crashes."""
    postgres = [str(ROOT / "scripts/postgres")]
    cluster = tmp_path / "cluster"
    url = subprocess.run(
        [*postgres, "start", str(cluster), "--watch", str(os.getpid())], capture_output=True, text=True, check=True,
        timeout=120).stdout.strip()
    try:
        server = start_server(data_dir=tmp_path / "data", env=clean_env(SPYGLASS_DATABASE_URL=url))
        load = Load(server)
        time.sleep(3.0)
        subprocess.run([*postgres, "crash", str(cluster)], check=True, timeout=60)
        time.sleep(0.5)
        load.stop()
        acknowledged = load.acknowledged
        assert len(acknowledged) > 100, "the load generator got too few answers to mean anything"

        started = time.monotonic()
        down = requests.post(load.url, data=load_envelope(uuid.uuid4().hex), headers=load.headers, timeout=60)
        waited = time.monotonic() - started
        assert down.status_code == 503, (down.status_code, down.text)
        assert "database" in down.headers["X-Sentry-Error"], down.headers
        assert int(down.headers["Retry-After"]) > 0
        assert waited < 10, f"the refusal took {waited:.1f} s"
        # The API's queries give up too (a token is checked in the database): 503 with the reason, within seconds.
        started = time.monotonic()
        api = requests.get(f"{server.url}/api/0/projects/", headers={"Authorization": "Bearer abc"}, timeout=60)
        waited = time.monotonic() - started
        assert api.status_code == 503 and "database" in api.json()["detail"], (api.status_code, api.text)
        assert waited < 15, f"the API's answer took {waited:.1f} s"

        subprocess.run([*postgres, "restart", str(cluster), "--watch", str(os.getpid())], check=True, timeout=120)
        restarted = time.monotonic()
        again = Load(server, may_vanish=(), timeout=30)  # from now on every request is answered
        event_id = uuid.uuid4().hex
        while True:
            response = requests.post(load.url, data=load_envelope(event_id), headers=load.headers, timeout=60)
            if response.status_code == 200:
                break
            assert response.status_code == 503, (response.status_code, response.text)
            assert time.monotonic() - restarted < 20, "the server did not store again within 20 s of the restart"
            time.sleep(0.2)
        time.sleep(1.0)
        again.stop()
        assert len(again.acknowledged) > 10, "the load after the restart got too few answers"
        import psycopg

        with psycopg.connect(url) as db:
            stored = {row[0] for row in db.execute("SELECT event_id FROM event")}
        missing = [event_id for event_id in acknowledged + again.acknowledged if event_id not in stored]
        assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged events were lost"
        assert event_id in stored
    finally:
        subprocess.run([*postgres, "stop", str(cluster)], capture_output=True, timeout=60)
        shutil.rmtree(cluster, ignore_errors=True)  # its files (WAL and all) would stay in pytest's kept directories
