"""200 means stored: kill -9 the server under load, then every acknowledged event must be stored (SQLite or PostgreSQL)."""

import json
import signal
import threading
import time
import uuid

import pytest
import requests

from conftest import DSN_RE, query

# No acknowledged event is lost, on either backend.
pytestmark = pytest.mark.backends


def test_every_acknowledged_event_survives_sigkill(tmp_path, start_server):
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    key, _, project = DSN_RE.match(server.dsn).groups()
    url = f"{server.url}/api/{project}/envelope/"
    headers = {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"}
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender():
        session = requests.Session()
        while not stop.is_set():
            event_id = uuid.uuid4().hex
            body = json.dumps({"event_id": event_id}) + "\n" + json.dumps({"type": "event"}) + "\n" + json.dumps(
                {"message": "under load", "level": "error", "extra": {"padding": "x" * 2000}})
            try:
                response = session.post(url, data=body, headers=headers, timeout=5)
            except requests.RequestException:
                return  # the server is gone
            if response.status_code == 200:
                assert response.json() == {"id": event_id}
                with lock:
                    acknowledged.append(event_id)

    threads = [threading.Thread(target=sender) for _ in range(16)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)

    assert len(acknowledged) > 100, "the load generator got too few answers to mean anything"
    stored = {row[0] for row in query(data, "SELECT event_id FROM event")}
    missing = [event_id for event_id in acknowledged if event_id not in stored]
    assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged events were lost"

    # The database opens again after the crash and the server starts on it.
    again = start_server(data_dir=data)
    assert requests.get(f"{again.url}/readyz", timeout=5).status_code == 200
    assert again.stop() == 0
