"""Ingest at the protocol level: auth, encodings, framing, limits, hostile input, normalization."""

import base64
import gzip
import json
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor

import brotli
import pytest
import requests

from conftest import DSN_RE, execute, query, run_cli, stored_events

# Ingest stores through the storage ports: both backends.
pytestmark = pytest.mark.backends


@pytest.fixture
def server(tmp_path, start_server):
    return start_server(data_dir=tmp_path / "data")


class Client:
    """Speaks the envelope protocol to one project of a running server."""

    def __init__(self, server, data_dir):
        self.server = server
        self.data_dir = data_dir
        key, _, project = DSN_RE.match(server.dsn).groups()
        self.key, self.project = key, project

    def url(self, endpoint="envelope", project=None):
        return f"{self.server.url}/api/{project or self.project}/{endpoint}/"

    def auth(self, key=None):
        return {"X-Sentry-Auth": f"Sentry sentry_key={key or self.key}, sentry_version=7, sentry_client=test/1.0"}

    def post(self, body: bytes, headers=None, endpoint="envelope", project=None, params=None, auth=True):
        all_headers = {**(self.auth() if auth else {}), **(headers or {})}
        return requests.post(self.url(endpoint, project), data=body, headers=all_headers, params=params, timeout=30)


def envelope(event=None, event_id=None, items=(), header=None, with_length=True, trailing_newline=True) -> bytes:
    """An envelope with an optional event item and extra (type, payload, extra headers) items."""
    event_id = event_id or uuid.uuid4().hex
    lines = [json.dumps(header if header is not None else {"event_id": event_id}).encode()]
    all_items = ([("event", json.dumps(event).encode(), {})] if event is not None else []) + list(items)
    for kind, payload, extra in all_items:
        item_header = {"type": kind, **extra}
        if with_length:
            item_header["length"] = len(payload)
        lines += [json.dumps(item_header).encode(), payload]
    body = b"\n".join(lines)
    return body + b"\n" if trailing_newline else body


@pytest.fixture
def client(server, tmp_path):
    return Client(server, tmp_path / "data")


def test_every_auth_transport_works_and_bad_keys_are_refused(client, tmp_path):
    def body():
        return envelope({"message": "hi"})

    assert client.post(body()).status_code == 200
    assert client.post(body(), auth=False, headers={"Authorization": f"Sentry sentry_key={client.key}"}).status_code == 200
    assert client.post(body(), auth=False, params={"sentry_key": client.key, "sentry_version": "7"}).status_code == 200
    dsn_envelope = envelope({"message": "tunnel"}, header={"event_id": uuid.uuid4().hex, "dsn": client.server.dsn})
    assert client.post(dsn_envelope, auth=False).status_code == 200

    missing = client.post(body(), auth=False)
    assert missing.status_code == 401
    assert "missing authorization" in missing.json()["detail"]
    assert missing.headers["X-Sentry-Error"] == missing.json()["detail"]
    assert client.post(body(), auth=False, headers={"X-Sentry-Auth": "Sentry sentry_version=7"}).status_code == 401
    unknown = client.post(body(), auth=False, headers=client.auth("0" * 32))
    assert unknown.status_code == 403 and "unknown or revoked" in unknown.json()["detail"]

    other = json.loads(run_cli("project", "create", "Other", "--json", data_dir=client.data_dir).stdout)
    other_key = other["keys"][0]["publicKey"]
    mismatch = client.post(body(), auth=False, headers=client.auth(other_key))
    assert mismatch.status_code == 403 and "not a key of project 1" in mismatch.json()["detail"]
    assert client.post(body(), auth=False, headers=client.auth(other_key), project=other["id"]).status_code == 200

    # Revoking a key in another process (here: directly in the database) takes effect within about a second.
    execute(client.data_dir, "UPDATE project_key SET is_active = 0 WHERE public_key = ?", other_key)
    time.sleep(1.2)
    revoked = client.post(body(), auth=False, headers=client.auth(other_key), project=other["id"])
    assert revoked.status_code == 403
    assert len(stored_events(client.data_dir)) == 5


def test_content_encodings(client):
    def body(tag):
        return envelope({"message": f"encoded {tag}"})

    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    cases = {
        "gzip": lambda b: gzip.compress(b),
        "x-gzip": lambda b: gzip.compress(b),
        "deflate": lambda b: zlib.compress(b),
        "deflate-raw": lambda b: raw_deflate.compress(b) + raw_deflate.flush(),
        "br": lambda b: brotli.compress(b),
        "identity": lambda b: b,
        "": lambda b: b,
        "UTF-8": lambda b: b,
    }
    for name, encode in cases.items():
        header = "deflate" if name == "deflate-raw" else name
        response = client.post(encode(body(name)), headers={"Content-Encoding": header, "Content-Type": "application/json"})
        assert response.status_code == 200, (name, response.text)
    stored = sorted(e["payload"]["logentry"]["formatted"] for e in stored_events(client.data_dir))
    assert stored == sorted(f"encoded {name}" for name in cases)
    # A gzip or deflate body is stored as received (first byte 0, then its format and where the event lies in it);
    # the others are compressed by the server (a zlib stream: 0x78). Each event is the first of its issue, so that
    # blob is its issue's dictionary, and the event's own blob refers to it (1, then the dictionary's id).
    def stored_forms():
        dictionaries = dict(query(client.data_dir, "SELECT id, data FROM payload_dictionary"))
        forms = {}
        for event_id, blob in query(client.data_dir, "SELECT event_id, payload FROM event"):
            assert blob[0] == 1 and len(blob) == 9, blob
            forms[event_id] = dictionaries[int.from_bytes(blob[1:], "little")][:2].hex().upper()
        return forms

    forms = stored_forms()
    events = {e["payload"]["logentry"]["formatted"]: e["event_id"] for e in stored_events(client.data_dir)}
    expected = {"gzip": "0001", "x-gzip": "0001", "deflate": "0002", "deflate-raw": "0003"}
    for name in cases:
        form = forms[events[f"encoded {name}"]]
        assert form == expected[name] if name in expected else form.startswith("78"), (name, form)

    # Not stored as received: a body mostly made of something else than the event (an attachment), and one with
    # bytes after its end (ignored by the decoder, so the body would not read back the same). Both read back whole.
    big = client.post(gzip.compress(envelope({"message": "beside an attachment"}, event_id="a" * 32,
                                             items=[("attachment", b"x" * 10000, {"filename": "big.bin"})])),
                      headers={"Content-Encoding": "gzip"})
    trailing = client.post(gzip.compress(envelope({"message": "with trailing bytes"}, event_id="b" * 32)) + b"tail",
                           headers={"Content-Encoding": "gzip"})
    assert big.status_code == 200 and trailing.status_code == 200, (big.text, trailing.text)
    forms = stored_forms()
    assert (forms["a" * 32][:2], forms["b" * 32][:2]) == ("78", "78")
    messages = {e["event_id"]: e["payload"]["logentry"]["formatted"] for e in stored_events(client.data_dir)}
    assert messages["a" * 32] == "beside an attachment" and messages["b" * 32] == "with trailing bytes"

    unsupported = client.post(body("zstd"), headers={"Content-Encoding": "zstd"})
    assert unsupported.status_code == 415 and "zstd" in unsupported.json()["detail"]
    broken = client.post(b"\x1f\x8b\x08\x00garbage", headers={"Content-Encoding": "gzip"})
    assert broken.status_code == 400 and "gzip" in broken.json()["detail"]


def test_framing_variants_and_dropped_item_types(client):
    event_id = uuid.uuid4().hex
    js_style = envelope({"message": "js"}, event_id=event_id, with_length=False, trailing_newline=False,
                        items=[("session", json.dumps({"sid": "x", "init": True, "status": "ok",
                                                       "attrs": {"release": "web@2.0.0"}}).encode(), {})])
    response = client.post(js_style, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert (response.status_code, response.json()) == (200, {"id": event_id})

    dropped = [(kind, b'{"x":1}', {}) for kind in
               ["transaction", "check_in", "span", "profile", "replay_event", "something_new"]]
    response = client.post(envelope(None, items=dropped, header={}))
    assert (response.status_code, response.json()) == (200, {})
    assert client.post(b"{}").json() == {}
    assert client.post(b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n').json() == {
        "id": "9ec79c33ec9942ab8353589fcb2e04dc"}
    zero = envelope({"message": "zero"}, items=[("attachment", b"", {"filename": "empty.bin"})])
    assert client.post(zero).status_code == 200
    assert [e["payload"]["logentry"]["formatted"] for e in stored_events(client.data_dir)] == ["js", "zero"]
    assert query(client.data_dir, "SELECT release, started FROM release_sessions") == [("web@2.0.0", 1)]
    assert query(client.data_dir, "SELECT filename, size FROM attachment") == [("empty.bin", 0)]


def test_user_reports_feedback_and_client_reports(client):
    event_id = uuid.uuid4().hex
    report = json.dumps({"event_id": event_id, "name": "Ann", "email": "ann@example.com", "comments": "it broke"})
    feedback = json.dumps({"contexts": {"feedback": {"message": "also broke", "contact_email": "bo@example.com",
                                                     "name": "Bo", "associated_event_id": event_id}}})
    client_report = json.dumps({"timestamp": time.time(), "discarded_events": [
        {"reason": "queue_overflow", "category": "error", "quantity": 2},
        {"reason": "ratelimit_backoff", "category": "transaction", "quantity": 5}]})
    body = envelope({"message": "reported"}, event_id=event_id, items=[
        ("user_report", report.encode(), {}), ("feedback", feedback.encode(), {}),
        ("client_report", client_report.encode(), {})])
    assert client.post(body).status_code == 200
    assert client.post(envelope(None, header={}, items=[("client_report", client_report.encode(), {})])).status_code == 200
    assert sorted(query(client.data_dir, "SELECT event_id, name, email, comments FROM user_report")) == [
        (event_id, "Ann", "ann@example.com", "it broke"), (event_id, "Bo", "bo@example.com", "also broke")]
    assert sorted(query(client.data_dir, "SELECT reason, category, quantity FROM discarded_events")) == [
        ("queue_overflow", "error", 4), ("ratelimit_backoff", "transaction", 10)]


def test_hostile_inputs_get_their_4xx_and_the_server_stays_up(client):
    cases = [
        (b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n{"type":"event","length":500}\n{"message":"short"}\n',
         400, "item 1: length 500 exceeds the remaining 20 bytes"),
        (b'{}\n{"type":"event","length":2}\n{"a":1}\n', 400, "expected a newline after its 2-byte payload"),
        (envelope(None, items=[("event", b'{"message": "unterminated', {})]), 400, "item 1 (event): invalid JSON"),
        (envelope(None, items=[("event", b"[" * 10000 + b"]" * 10000, {})]), 400, "nesting deeper than 128 levels"),
        (bytes(range(256)) * 40, 400, "envelope header: invalid JSON"),
        (b"", 400, "empty envelope"),
        (envelope(None, items=[("event", b'"just a string"', {})]), 400, "item 1 (event): event payload must be a JSON object"),
        (envelope({"message": "x"}, header={"event_id": "not-an-id"}), 400, "envelope header: invalid event_id"),
    ]
    for body, status, message in cases:
        response = client.post(body)
        assert response.status_code == status, (body[:80], response.text)
        assert message in response.json()["detail"], (message, response.text)
        assert message in response.headers["X-Sentry-Error"] or len(message) > 900
    assert requests.get(f"{client.server.url}/healthz", timeout=5).status_code == 200
    assert stored_events(client.data_dir) == []


def rss_kib(pid) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_decompression_bombs_and_oversized_bodies_get_413_quickly(client):
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip
    chunk = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(chunk) for _ in range(1024)) + compressor.flush()  # 1 GiB of zeros
    assert len(bomb) < 2 * 1024 * 1024
    before = rss_kib(client.server.proc.pid)
    started = time.monotonic()
    response = client.post(bomb, headers={"Content-Encoding": "gzip"})
    assert time.monotonic() - started < 1.0
    assert response.status_code == 413, response.text
    assert rss_kib(client.server.proc.pid) - before < 50 * 1024

    # A well-formed envelope whose dropped item inflates to 1 GiB: read past, never held in memory.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = b'{}\n{"type":"transaction","length":1073741824}\n'
    item_bomb = compressor.compress(head) + b"".join(compressor.compress(chunk) for _ in range(1024)) + compressor.flush()
    response = client.post(item_bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413 and "200 MiB" in response.json()["detail"]
    assert rss_kib(client.server.proc.pid) - before < 50 * 1024

    big = client.post(b'{}\n{"type":"attachment","length":52428800}\n' + b"x" * (50 * 1024 * 1024))
    assert big.status_code == 413 and "20 MiB" in big.json()["detail"]
    large_event = envelope({"message": "x" * (1024 * 1024)})
    response = client.post(large_event)
    assert response.status_code == 413 and "1 MiB" in response.json()["detail"]
    assert requests.get(f"{client.server.url}/readyz", timeout=5).status_code == 200


def test_limits_are_configurable(tmp_path, start_server):
    server = start_server(data_dir=tmp_path / "data", args=["--max-event-size", "2KiB"])
    client = Client(server, tmp_path / "data")
    assert client.post(envelope({"message": "x" * 1000})).status_code == 200
    response = client.post(envelope({"message": "x" * 3000}))
    assert response.status_code == 413 and "2 KiB" in response.json()["detail"]


def test_lenient_decoding_keeps_what_sdks_send(client):
    now = time.time()
    event = {
        "timestamp": str(now - 5),
        "tags": [["tenant", "acme"], ["retries", 3]],
        "exception": [{"type": "Boom", "value": "bad \udc00 surrogate and \u0000 nul"}],
        "breadcrumbs": [{"message": "clicked", "timestamp": now - 10}],
        "extra": {"big": 123456789012345678901234567890, "nan": "nan"},
        "unknown_field": {"kept": True},
        "message": "plain string",
        "user": {"id": "u1", "ip_address": "{{auto}}"},
    }
    body = json.dumps(event).replace('"bad \\udc00', '"bad \\udc00').encode()
    event_id = uuid.uuid4().hex
    response = client.post(envelope(None, event_id=event_id, items=[("event", body, {})]))
    assert response.status_code == 200, response.text
    payload = stored_events(client.data_dir)[0]["payload"]
    assert payload["event_id"] == event_id
    assert abs(payload["timestamp"] - (now - 5)) < 0.01
    assert payload["tags"] == [["tenant", "acme"], ["retries", "3"]]
    assert payload["exception"]["values"][0]["value"] == "bad \ufffd surrogate and \u0000 nul"
    assert payload["breadcrumbs"]["values"][0]["message"] == "clicked"
    assert payload["extra"]["big"] == 123456789012345678901234567890
    assert payload["unknown_field"] == {"kept": True}
    assert payload["logentry"] == {"formatted": "plain string"}
    assert payload["user"]["ip_address"] == "127.0.0.1"

    # "nan" and other garbage timestamps fall back to the receive time.
    response = client.post(envelope({"message": "nan time", "timestamp": "nan"}))
    assert response.status_code == 200
    nan_event = stored_events(client.data_dir)[1]
    assert abs(nan_event["timestamp"] - nan_event["received"]) < 0.001


def test_normalization_of_time_release_and_environment(client):
    now = time.time()
    cases = {
        "future": ({"timestamp": now + 3600}, None),
        "ancient": ({"timestamp": now - 40 * 86400}, None),
        "drift": ({"timestamp": now - 7200}, now - 7200),  # the SDK's clock is two hours behind
        "epoch-string": ({"timestamp": "2026-01-02T03:04:05.5+01:00"}, None),
    }
    for name, (fields, sent_at) in cases.items():
        header = {"event_id": uuid.uuid4().hex}
        if sent_at:
            header["sent_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent_at))
        assert client.post(envelope({"message": name, **fields}, header=header)).status_code == 200
    events = {e["payload"]["logentry"]["formatted"]: e for e in stored_events(client.data_dir)}
    for name in ["future", "ancient", "drift"]:
        assert abs(events[name]["timestamp"] - events[name]["received"]) < 5, name
    assert {e["type"] for e in events["future"]["payload"]["errors"]} == {"future_timestamp"}
    assert {e["type"] for e in events["drift"]["payload"]["errors"]} == {"clock_drift"}
    # 2026-01-02T02:04:05.5Z is more than 30 days ago only after 2026-02-01.
    assert events["epoch-string"]["timestamp"] in (1767319445.5, events["epoch-string"]["received"])

    for release in ["latest", ".", "..", "a/b", "a\nb"]:
        assert client.post(envelope({"message": f"release {release!r}", "release": release})).status_code == 200
    assert client.post(envelope({"message": "env none", "environment": "none", "release": "ok@1"})).status_code == 200
    rows = query(client.data_dir, "SELECT release, environment FROM event WHERE release IS NOT NULL OR environment IS NOT NULL")
    assert rows == [("ok@1", None)]


def test_duplicate_event_ids_are_stored_once(client):
    event_id = uuid.uuid4().hex
    body = envelope({"message": "twice"}, event_id=event_id)
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: client.post(body), range(4)))
    assert [(r.status_code, r.json()) for r in responses] == [(200, {"id": event_id})] * 4
    assert [e["event_id"] for e in stored_events(client.data_dir)] == [event_id]


def test_per_key_rate_limit_answers_429_with_rate_limit_headers(client):
    run_cli("project", "rate-limit", "default", "--per-minute", "2", data_dir=client.data_dir)
    time.sleep(1.2)
    statuses = [client.post(envelope({"message": f"n{i}"})).status_code for i in range(2)]
    limited = client.post(envelope({"message": "n3"}))
    if statuses != [200, 200]:  # the minute window turned between the first two; the next two must pass
        statuses = [client.post(envelope({"message": f"m{i}"})).status_code for i in range(2)]
        limited = client.post(envelope({"message": "m3"}))
    assert statuses == [200, 200]
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert limited.headers["X-Sentry-Rate-Limits"] == f"{retry_after}::key"
    # Envelopes without an event (sessions, client reports) are not counted against the limit.
    assert client.post(envelope(None, header={}, items=[("client_report", b'{"discarded_events":[]}', {})])).status_code == 200


@pytest.mark.sqlite_only
def test_a_full_writer_queue_answers_429(tmp_path, start_server):
    import sqlite3

    server = start_server(data_dir=tmp_path / "data", args=["--ingest-queue", "1"])
    client = Client(server, tmp_path / "data")
    lock = sqlite3.connect(tmp_path / "data" / "spyglass.sqlite", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the writer waits for this lock
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(client.post, envelope({"message": "first"}))
        time.sleep(0.5)  # taken by the writer, which now waits
        second = pool.submit(client.post, envelope({"message": "second"}))
        time.sleep(0.5)  # queued
        third = client.post(envelope({"message": "third"}))
        assert third.status_code == 429
        assert third.headers["Retry-After"] == "1" and third.headers["X-Sentry-Rate-Limits"] == "1::key"
        lock.execute("ROLLBACK")
        lock.close()
        assert first.result().status_code == 200 and second.result().status_code == 200
    assert sorted(e["payload"]["logentry"]["formatted"] for e in stored_events(client.data_dir)) == ["first", "second"]


def test_cors_preflight_and_headers(client):
    preflight = requests.options(client.url(), headers={"Origin": "https://app.example.com",
                                                        "Access-Control-Request-Method": "POST"}, timeout=5)
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "x-sentry-auth" in preflight.headers["Access-Control-Allow-Headers"]
    assert "content-encoding" in preflight.headers["Access-Control-Allow-Headers"]
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert requests.options(client.url("store"), timeout=5).status_code == 200
    response = client.post(envelope({"message": "cors"}))
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "x-sentry-rate-limits" in response.headers["Access-Control-Expose-Headers"]


def test_store_endpoint_takes_json_and_base64_zlib(client):
    event_id = uuid.uuid4().hex
    plain = client.post(json.dumps({"event_id": event_id, "message": "stored"}).encode(), endpoint="store")
    assert (plain.status_code, plain.json()) == (200, {"id": event_id})
    raven = base64.b64encode(zlib.compress(json.dumps({"message": "raven"}).encode()))
    response = client.post(raven, endpoint="store")
    assert response.status_code == 200, response.text
    assert client.post(b"!!!", endpoint="store").status_code == 400
    assert client.post(b"{}", endpoint="store", auth=False).status_code == 401
    messages = [e["payload"]["logentry"]["formatted"] for e in stored_events(client.data_dir)]
    assert messages == ["stored", "raven"]


def test_ingest_metrics(client):
    twice = envelope({"message": "ok"})
    client.post(twice)
    client.post(twice)
    client.post(b"garbage")
    client.post(envelope({"message": "x"}), auth=False)
    metrics = requests.get(f"{client.server.url}/metrics", timeout=5).text
    assert 'spyglass_ingest_events_total{outcome="accepted"} 1' in metrics
    assert 'spyglass_ingest_events_total{outcome="filtered"} 1' in metrics
    assert 'spyglass_ingest_events_total{outcome="invalid"} 2' in metrics
    assert "spyglass_ingest_queue_depth" in metrics
    assert "spyglass_ingest_commit_seconds_count 2" in metrics
