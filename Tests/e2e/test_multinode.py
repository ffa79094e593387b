"""Two `spyglass serve` nodes on one PostgreSQL database (docs/scaling.md): real sentry-sdk events sent to both,
alerts mailed exactly once (aiosmtpd), kill -9 of a node under load, a key revoked on one node refused by the other."""

import json
import re
import signal
import socket
import threading
import time
import uuid

import pytest
import requests
import sentry_sdk
from aiosmtpd.controller import Controller

from conftest import DSN_RE, Load, clean_env, run_cli
from test_alerts import Mailbox, Receiver, free_port, send_error, wait_until
from test_hostile_input import session_for

# Several nodes share a database only on PostgreSQL.
pytestmark = pytest.mark.postgres_only

PASSWORD = "correct-horse-9"
ADMIN = "ops@example.com"


@pytest.fixture
def mailbox():
    """A plain SMTP sink (no TLS: this test is about the nodes, test_alerts about mail)."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.url = f"smtp://127.0.0.1:{controller.port}"
    yield box
    controller.stop()


@pytest.fixture
def black_hole():
    """An SMTP server that accepts connections and never answers: a node delivering through it hangs mid-delivery."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"smtp://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for connection in held:
        connection.close()
    listener.close()


def start_node(start_server, tmp_path, name, database, smtp_url, lease="3"):
    env = clean_env(
        SPYGLASS_DATABASE_URL=database, SPYGLASS_ADMIN_EMAIL=ADMIN, SPYGLASS_ADMIN_PASSWORD=PASSWORD,
        SPYGLASS_SMTP_URL=smtp_url, SPYGLASS_EMAIL_FROM="spyglass@example.com", SPYGLASS_NOTIFY_RETRY_SECONDS="1",
        SPYGLASS_NOTIFY_LEASE_SECONDS=lease, SPYGLASS_WEBHOOK_ALLOW_PRIVATE="1",
    )
    return start_server(data_dir=tmp_path / name, env=env)


def token(database):
    out = run_cli("token", "create", "--user", ADMIN, env=clean_env(SPYGLASS_DATABASE_URL=database)).stdout
    return {"Authorization": f"Bearer {out.strip().splitlines()[-1]}"}


def envelope(event_id, message="under load"):
    return json.dumps({"event_id": event_id}) + "\n" + json.dumps({"type": "event"}) + "\n" + json.dumps(
        {"message": message, "level": "error", "extra": {"padding": "x" * 500}})


def post_event(node, key, project, event_id, message="under load"):
    return requests.post(
        f"{node.url}/api/{project}/envelope/", data=envelope(event_id, message),
        headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"}, timeout=5)


def test_two_nodes_share_events_alerts_sessions_keys_and_rate_limits(tmp_path, start_server, postgres_url, mailbox):
    first = start_node(start_server, tmp_path, "a", postgres_url, mailbox.url)
    second = start_node(start_server, tmp_path, "b", postgres_url, mailbox.url)
    nodes = [first, second]
    # One bootstrap between them: the same admin, project and key on both.
    key, _, project = DSN_RE.match(first.dsn).groups()
    assert DSN_RE.match(second.dsn).group(1, 3) == (key, project)

    # Real sentry-sdk events, alternately to each node: three kinds of error, four events each.
    kinds = ["Checkout", "Inventory", "Shipping"]
    sent = []
    for round_ in range(4):
        for index, kind in enumerate(kinds):
            sentry_sdk.init(dsn=nodes[(round_ + index) % 2].dsn, release="shop@1.0", environment="production")
            sent.append(send_error(kind))
    sentry_sdk.init(dsn=None)

    # Every event is readable from both nodes, through one API token (tokens live in the database).
    headers = token(postgres_url)
    for node in nodes:
        for event_id in sent:
            response = requests.get(f"{node.url}/api/0/projects/spyglass/default/events/{event_id}/", headers=headers, timeout=10)
            assert response.status_code == 200, (node.url, event_id, response.text)
        issues = requests.get(f"{node.url}/api/0/projects/spyglass/default/issues/", headers=headers, timeout=10).json()
        assert sorted((issue["title"].split(":")[0], issue["count"]) for issue in issues) == [
            ("CheckoutError", "4"), ("InventoryError", "4"), ("ShippingError", "4"),
        ]

    # Each new issue mailed exactly once, though both nodes deliver from the same outbox.
    wait_until(lambda: len(mailbox.messages) >= 3, timeout=20, what="three new-issue mails")
    time.sleep(3)
    subjects = sorted(message["Subject"] for _, message in mailbox.messages)
    assert subjects == [f"[Spyglass] New issue in default: {kind}Error: payment declined" for kind in kinds]

    # A web session made on one node works on the other; the live banner there counts events the first one stored.
    web = session_for(first, email=ADMIN, password=PASSWORD)
    stream = web.get(f"{second.url}/organizations/spyglass/issues/", timeout=10)
    assert stream.status_code == 200 and "CheckoutError" in stream.text
    poll = re.search(r'data-poll="([^"]+)"', stream.text).group(1).replace("&amp;", "&")
    for n in range(3):
        assert post_event(first, key, project, uuid.uuid4().hex).status_code == 200
    assert web.get(second.url + poll, timeout=10).json() == {"count": 3}

    # A rate limit counts what both nodes admitted (exchanged once a second): 10 per minute, 6 sent to the first
    # node, then the second admits only the remaining 4. The minute must not end in between.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    run_cli("project", "rate-limit", "default", "--per-minute", "10", env=clean_env(SPYGLASS_DATABASE_URL=postgres_url))
    time.sleep(1.0)  # both nodes' key caches see the new limit
    assert [post_event(first, key, project, uuid.uuid4().hex, "limited").status_code for _ in range(6)] == [200] * 6
    time.sleep(2.5)  # a count exchange on each node
    answers = [post_event(second, key, project, uuid.uuid4().hex, "limited").status_code for _ in range(6)]
    assert answers == [200] * 4 + [429] * 2
    run_cli("project", "rate-limit", "default", "--per-minute", "0", env=clean_env(SPYGLASS_DATABASE_URL=postgres_url))
    wait_until(lambda: post_event(second, key, project, uuid.uuid4().hex).status_code == 200, what="the limit lifted")

    # An alert rule created through the first node applies to the next event the second node stores.
    receiver = Receiver()
    try:
        rule = {"name": "Hook", "conditions": [{"id": "first_seen"}], "actions": [{"id": "webhook", "url": receiver.url()}]}
        created = requests.post(f"{first.url}/api/0/projects/spyglass/default/rules/", headers=headers, json=rule, timeout=10)
        assert created.status_code == 201, created.text
        assert post_event(second, key, project, uuid.uuid4().hex, "after the new rule").status_code == 200
        wait_until(lambda: receiver.requests, what="the new rule's webhook")
        assert json.loads(receiver.requests[0][2])["issue"]["title"] == "after the new rule"
    finally:
        receiver.stop()

    # The key revoked through the first node's settings page is refused by the second within a second.
    import psycopg

    with psycopg.connect(postgres_url) as db:
        key_id = db.execute("SELECT id FROM project_key WHERE public_key = %s", (key,)).fetchone()[0]
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', web.get(first.url + "/settings/account/", timeout=10).text).group(1)
    revoked = web.post(f"{first.url}/settings/spyglass/projects/default/keys/{key_id}/", timeout=10,
                       data={"csrf": csrf, "action": "revoke"})
    assert revoked.status_code == 200 and "Key saved." in revoked.text, revoked.text
    start = time.monotonic()
    while post_event(second, key, project, uuid.uuid4().hex).status_code == 200:
        assert time.monotonic() - start < 1.0, "the second node still accepts the revoked key after a second"
        time.sleep(0.05)
    assert post_event(second, key, project, uuid.uuid4().hex).status_code == 403

    # A password changed on the first node ends the sessions the second node had.
    elsewhere = session_for(second, email=ADMIN, password=PASSWORD)
    assert elsewhere.get(f"{second.url}/organizations/spyglass/issues/", timeout=10, allow_redirects=False).status_code == 200
    changed = web.post(f"{first.url}/settings/account/password/", timeout=10, data={
        "csrf": csrf, "current": PASSWORD, "new": "another-horse-7", "confirm": "another-horse-7"})
    assert changed.status_code == 200, changed.text
    assert elsewhere.get(f"{second.url}/organizations/spyglass/issues/", timeout=10, allow_redirects=False).status_code == 303


def test_a_node_killed_under_load_loses_no_event_and_the_other_delivers_its_claimed_notification(
    tmp_path, start_server, postgres_url, mailbox, black_hole
):
    import psycopg

    # The first node delivers through an SMTP server that never answers: it claims the new issue's notification
    # and hangs in the delivery.
    first = start_node(start_server, tmp_path, "a", postgres_url, black_hole)
    key, _, project = DSN_RE.match(first.dsn).groups()
    claimed_id = uuid.uuid4().hex
    assert post_event(first, key, project, claimed_id, "claimed then killed").status_code == 200

    def claimed():
        with psycopg.connect(postgres_url) as db:
            rows = db.execute("SELECT next_attempt, attempts FROM notification WHERE status = 'pending'").fetchall()
        return len(rows) == 1 and rows[0][0] > time.time() and rows[0][1] == 0

    wait_until(claimed, what="the first node's claim")
    second = start_node(start_server, tmp_path, "b", postgres_url, mailbox.url)

    # Load on both nodes; kill -9 the first one in the middle of it. The second must keep answering.
    load = Load(first, second, clients=6, padding=500, may_vanish=[first])
    time.sleep(2.0)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    time.sleep(1.0)
    load.stop()
    acknowledged = load.acknowledged

    assert len(acknowledged) > 100, "the load generator got too few answers to mean anything"
    with psycopg.connect(postgres_url) as db:
        stored = {row[0] for row in db.execute("SELECT event_id FROM event").fetchall()}
        counted = db.execute("SELECT sum(times_seen)::bigint, count(*) FROM issue").fetchone()
        events = db.execute("SELECT count(*) FROM event").fetchone()[0]
    missing = [event_id for event_id in acknowledged if event_id not in stored]
    assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged events were lost"
    assert counted == (events, 2)  # "claimed then killed" and "under load"; counters match the stored events

    # After the lease (3 s) the second node delivers what the first had claimed: each new issue mailed once.
    wait_until(lambda: len(mailbox.messages) >= 2, timeout=30, what="both new-issue mails from the second node")
    time.sleep(2)
    subjects = sorted(message["Subject"] for _, message in mailbox.messages)
    assert subjects == [
        "[Spyglass] New issue in default: claimed then killed", "[Spyglass] New issue in default: under load",
    ]
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT status, attempts FROM notification ORDER BY id").fetchall() == [("delivered", 1)] * 2


def test_a_node_starts_beside_a_schema_a_newer_node_extended_and_refuses_a_breaking_one(
    tmp_path, start_server, postgres_url, mailbox
):
    """A rolling upgrade: the next version's node migrates at its start; this version's nodes keep running and
    restarting beside it while its migrations are additive (docs/scaling.md), and refuse to start, saying why,
    on one that is not."""
    import subprocess

    import psycopg

    from conftest import BIN

    first = start_node(start_server, tmp_path, "a", postgres_url, mailbox.url)
    key, _, project = DSN_RE.match(first.dsn).groups()
    # What a newer node's start leaves: a new column and its migration, recorded as additive.
    with psycopg.connect(postgres_url) as db:
        db.execute("ALTER TABLE event ADD COLUMN next_version_note TEXT")
        db.execute("INSERT INTO schema_migrations (version, name, additive) VALUES (1000, 'next version', true)")
    second = start_node(start_server, tmp_path, "b", postgres_url, mailbox.url)
    assert second.wait_for(lambda f: "newer Spyglass extended the schema" in f.get("msg", ""))["spyglass.migrations"] == "1000"
    for node in (first, second):
        assert post_event(node, key, project, uuid.uuid4().hex, "after the upgrade").status_code == 200

    with psycopg.connect(postgres_url) as db:
        db.execute("INSERT INTO schema_migrations (version, name) VALUES (1001, 'breaking')")
    refused = subprocess.run(
        [BIN, "serve", "--port", "0", "--data-dir", str(tmp_path / "c")],
        env=clean_env(SPYGLASS_DATABASE_URL=postgres_url), capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "migration 1001" in refused.stdout + refused.stderr
    # The running nodes are not disturbed.
    assert post_event(first, key, project, uuid.uuid4().hex, "after the upgrade").status_code == 200
