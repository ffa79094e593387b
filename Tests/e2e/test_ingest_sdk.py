"""The real Python sentry-sdk (2.x, and 1.x for /store/) against the running server."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sentry_sdk

from conftest import query, stored_events

# What the real SDK sends is stored through the storage ports: both backends.
pytestmark = pytest.mark.backends


@pytest.fixture
def server(tmp_path, start_server):
    return start_server(data_dir=tmp_path / "data")


def init_sdk(dsn, **options):
    options.setdefault("release", "myapp@1.2.3")
    options.setdefault("environment", "staging")
    sentry_sdk.init(dsn=dsn, default_integrations=True, **options)


def outer():
    try:
        1 / 0
    except ZeroDivisionError as error:
        raise ValueError("bad value 12345 for user 3f2504e0-4f89-11d3-9a0c-0305e82c3301") from error


@pytest.mark.parametrize("algo", ["gzip", "br", "none"])
def test_exceptions_messages_and_logging_arrive_with_each_transport_compression(tmp_path, server, algo):
    experiments = {"transport_compression_algo": algo} if algo != "none" else {"transport_compression_level": 0}
    init_sdk(server.dsn, _experiments=experiments)
    transport = sentry_sdk.get_client().transport
    if algo == "none":
        assert transport._compression_level == 0  # sent as is, no Content-Encoding
    else:
        assert transport._compression_algo == algo

    ids = {}
    try:
        outer()
    except ValueError:
        ids["chained"] = sentry_sdk.capture_exception()
    ids["message"] = sentry_sdk.capture_message("Hello world", level="warning")
    log = logging.getLogger("myapp.orders")
    log.error("Failed to process order %s for %s", 4711, "bob")
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    sentry_sdk.flush(timeout=10)

    events = {e["event_id"]: e for e in stored_events(server_dir(server))}
    assert len(events) == 4, list(events)
    chained = events[ids["chained"]]
    assert (chained["level"], chained["release"], chained["environment"], chained["platform"]) == (
        "error", "myapp@1.2.3", "staging", "python")
    values = chained["payload"]["exception"]["values"]
    assert [v["type"] for v in values] == ["ZeroDivisionError", "ValueError"]
    assert values[1]["stacktrace"]["frames"][-1]["function"] == "outer"
    assert chained["payload"]["sdk"]["name"] == "sentry.python"

    message = events[ids["message"]]
    assert message["level"] == "warning"
    assert message["payload"]["logentry"]["formatted"] == "Hello world"
    assert "message" not in message["payload"]

    logged = [e for e in events.values() if e["payload"].get("logger") == "myapp.orders"]
    by_template = {e["payload"]["logentry"]["message"]: e for e in logged}
    assert by_template["Failed to process order %s for %s"]["payload"]["logentry"]["formatted"] == (
        "Failed to process order 4711 for bob")
    assert "exception" not in by_template["Failed to process order %s for %s"]["payload"]
    exception = by_template["lookup failed"]["payload"]["exception"]["values"][-1]
    assert exception["type"] == "KeyError" and exception["mechanism"]["type"] == "logging"


def server_dir(server):
    return Path(server.command[server.command.index("--data-dir") + 1])


def test_attachment_user_feedback_session_and_transaction(server):
    init_sdk(server.dsn, traces_sample_rate=1.0)
    with sentry_sdk.new_scope() as scope:
        scope.add_attachment(bytes=b"hello\nworld", filename="notes.txt", content_type="text/plain")
        event_id = sentry_sdk.capture_message("with attachment")
    with sentry_sdk.start_transaction(name="checkout"):
        pass
    scope = sentry_sdk.get_isolation_scope()
    scope.start_session()
    scope.end_session()
    sentry_sdk.flush(timeout=10)

    data = server_dir(server)
    assert [e["event_id"] for e in stored_events(data)] == [event_id]  # the transaction is dropped
    assert query(data, "SELECT event_id, filename, content_type, data FROM attachment") == [
        (event_id, "notes.txt", "text/plain", b"hello\nworld")]
    assert query(data, "SELECT release, environment, started, exited, crashed FROM release_sessions") == [
        ("myapp@1.2.3", "staging", 1, 1, 0)]


def test_client_reports_count_what_the_sdk_dropped(server):
    init_sdk(server.dsn, before_send=lambda event, hint: None)
    for _ in range(3):
        sentry_sdk.capture_message("dropped by before_send")
    sentry_sdk.flush(timeout=10)
    sentry_sdk.get_client().close(timeout=10)
    data = server_dir(server)
    assert stored_events(data) == []
    assert query(data, "SELECT reason, category, quantity FROM discarded_events") == [("before_send", "error", 3)]


SDK1_SCRIPT = """
import sys, sentry_sdk
sentry_sdk.init(dsn=sys.argv[1], release="legacy@1.0")
assert sentry_sdk.VERSION.startswith("1."), sentry_sdk.VERSION
try:
    1 / 0
except ZeroDivisionError:
    print(sentry_sdk.capture_exception())
sentry_sdk.flush(timeout=10)
"""


def test_sentry_sdk_1_uses_the_store_endpoint(server, tmp_path):
    # scripts/test installs sentry-sdk 1.x there (Tests/e2e/requirements-sdk1.txt), apart from the 2.x in the venv.
    target = Path(__file__).resolve().parents[2] / ".venv-test" / "sdk1"
    assert (target / "sentry_sdk").is_dir(), f"sentry-sdk 1.x is not installed in {target}: run scripts/test"
    result = subprocess.run([sys.executable, "-c", SDK1_SCRIPT, server.dsn], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(target)}, timeout=60)
    assert result.returncode == 0, result.stderr
    event_id = result.stdout.strip()
    server.wait_for(lambda f: f.get("http.route") == "/api/{project_id}/store")
    events = stored_events(server_dir(server))
    assert [(e["event_id"], e["release"]) for e in events] == [(event_id, "legacy@1.0")]
    assert events[0]["payload"]["exception"]["values"][0]["type"] == "ZeroDivisionError"


def charge(order_id, amount):
    # Locals differ between events of the issue, as they do in production.
    note = f"order {order_id} of {amount} cents"
    raise RuntimeError(f"card declined for order {order_id}: {note}")


def test_compact_events_are_stored_against_their_issues_first_event_and_read_back_whole(tmp_path, start_server):
    """SPYGLASS_COMPACT_EVENTS=1 (the default): the first event of an issue becomes its dictionary, later ones are
    stored as what differs from it; every one reads back as sent, across a restart (the dictionary cache starts
    empty)."""
    from conftest import clean_env

    data = tmp_path / "data"
    env = clean_env(SPYGLASS_COMPACT_EVENTS="1")
    sent = {}

    def send(dsn, orders):
        init_sdk(dsn, max_request_body_size="always")
        for order in orders:
            with sentry_sdk.new_scope() as scope:
                scope.set_extra("order", order)
                try:
                    charge(order, order * 100)
                except RuntimeError:
                    sent[sentry_sdk.capture_exception()] = order
        try:
            {}["missing"]
        except KeyError:
            sent[sentry_sdk.capture_exception()] = None
        sentry_sdk.flush(timeout=10)

    server = start_server(data_dir=data, env=env)
    send(server.dsn, range(1, 6))
    assert server.stop() == 0
    server = start_server(data_dir=data, env=env)
    send(server.dsn, range(6, 9))
    assert server.stop() == 0

    events = {e["event_id"]: e for e in stored_events(data)}
    assert set(events) == set(sent)
    for event_id, order in sent.items():
        payload = events[event_id]["payload"]
        if order is None:
            assert payload["exception"]["values"][-1]["type"] == "KeyError"
            continue
        assert payload["extra"]["order"] == order
        frame = payload["exception"]["values"][-1]["stacktrace"]["frames"][-1]
        assert frame["function"] == "charge" and frame["vars"]["order_id"] == str(order)
    # Two issues (charge, and a KeyError in each run): a dictionary each, which their first events are (01); the
    # others are stored against them (02), but for the first of each issue after the restart, which is stored alone
    # (zlib 78, or the body as received 00) while the writer reads the dictionary back for the next ones.
    assert query(data, "SELECT count(*) FROM payload_dictionary") == [(2,)]
    payloads = [bytes(payload) for (payload,) in query(data, "SELECT payload FROM event")]
    forms = {}
    for payload in payloads:
        forms[payload[:1].hex()] = forms.get(payload[:1].hex(), 0) + 1
    assert (forms.pop("01"), forms.pop("02"), sum(forms.values())) == (2, 6, 2), forms
    sizes = [(max(len(payload) for payload in payloads if payload[:1] == b"\x02"),)]
    plain = query(data, "SELECT min(length(data)) FROM payload_dictionary")
    assert sizes[0][0] * 2 < plain[0][0], (sizes, plain)
