"""Alerts against real peers: an aiosmtpd SMTP server (STARTTLS, implicit TLS, AUTH), an HTTP webhook receiver."""

import email
import email.policy
import hashlib
import hmac
import http.server
import json
import re
import socket
import ssl
import threading
import time

import pytest
import requests
import sentry_sdk
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import clean_env, query, run_cli

# Alert rules and the outbox live in storage: both backends.
pytestmark = pytest.mark.backends
from test_issues_api import API
from test_web_ui import browser  # noqa: F401 (fixture)

BASE = "http://spyglass.test"
ADMIN = "ops@example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Mailbox:
    def __init__(self):
        self.messages = []
        self.mechanisms = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.mechanisms.append(mechanism)
        # handled=False: aiosmtpd answers 235/535 itself.
        return AuthResult(success=auth_data.login == b"alerts" and auth_data.password == b"s3cret pass", handled=False)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, str(ca_file)


@pytest.fixture
def smtp(tls):
    """A STARTTLS-only SMTP server with AUTH."""
    context, ca_file = tls
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=mailbox.authenticate, auth_require_tls=True,
    )
    controller.start()
    mailbox.env = {
        "SPYGLASS_SMTP_URL": f"smtp+starttls://alerts:s3cret%20pass@localhost:{port}",
        "SPYGLASS_SMTP_CA_FILE": ca_file,
    }
    yield mailbox
    controller.stop()


class Receiver:
    """An HTTP server recording the POSTs it gets."""

    def __init__(self, port=None):
        self.requests = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, dict(self.headers), body))
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/hook")
                else:
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    started = Receiver()
    yield started
    started.stop()


def start(start_server, data_dir, **env):
    base_env = dict(
        SPYGLASS_BASE_URL=BASE, SPYGLASS_ADMIN_EMAIL=ADMIN, SPYGLASS_EMAIL_FROM="spyglass@example.com",
        SPYGLASS_NOTIFY_RETRY_SECONDS="1", SPYGLASS_WEBHOOK_ALLOW_PRIVATE="1",
    )
    base_env.update(env)
    base_env = {k: v for k, v in base_env.items() if v is not None}
    server = start_server(data_dir=data_dir, env=clean_env(**base_env))
    # The DSN names the public base URL; the SDK talks to where the server listens.
    dsn = server.dsn.replace("spyglass.test", server.url.removeprefix("http://"))
    sentry_sdk.init(dsn=dsn, release="shop@1.0", environment="production")
    return server, API(server, data_dir, email=ADMIN)


def send_error(kind="Checkout"):
    error_type = type(f"{kind}Error", (Exception,), {})
    try:
        raise error_type("payment declined")
    except Exception as error:
        event_id = sentry_sdk.capture_exception(error)
    sentry_sdk.flush(timeout=10)
    return event_id


def create_rule(api, **rule):
    response = api.post_json("projects/spyglass/default/rules/", rule)
    assert response.status_code == 201, response.text
    return response.json()


def only_webhook_rules(api):
    """Removes the default rule, so only the test's rules send anything."""
    for rule in api.get("projects/spyglass/default/rules/").json():
        assert api.delete(f"projects/spyglass/default/rules/{rule['id']}/").status_code == 204


def test_new_issue_and_regression_mail_the_members_once_each_over_starttls(tmp_path, start_server, smtp):
    server, api = start(start_server, tmp_path / "data", **smtp.env)
    send_error()
    wait_until(lambda: smtp.messages, what="the new-issue mail")
    issue = api.issues()[0]
    link = f"{BASE}/organizations/spyglass/issues/{issue['id']}/"

    recipients, mail = smtp.messages[0]
    assert recipients == [ADMIN] and smtp.mechanisms == ["PLAIN"]
    assert mail["Subject"] == "[Spyglass] New issue in default: CheckoutError: payment declined"
    assert mail["From"] == "spyglass@example.com" and mail["Message-ID"].startswith("<spyglass-notification-")
    assert mail["List-Unsubscribe"] == f"<{BASE}/settings/spyglass/projects/default/alerts/>"
    assert mail["Date"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for part in (text, html):
        assert link in part and "shop@1.0" in part and "production" in part and "CheckoutError: payment declined" in part

    assert api.put(f"issues/{issue['id']}/", {"status": "resolved"}).status_code == 200
    send_error()
    wait_until(lambda: len(smtp.messages) >= 2, what="the regression mail")
    assert smtp.messages[1][1]["Subject"] == "[Spyglass] Regression in default: CheckoutError: payment declined"
    time.sleep(2)
    assert len(smtp.messages) == 2

    history = api.get(f"issues/{issue['id']}/deliveries/").json()
    assert [(d["trigger"], d["channel"], d["status"], d["attempts"]) for d in history] == [
        ("regression", "email", "delivered", 1), ("new_issue", "email", "delivered", 1),
    ]
    assert history[0]["target"] == ADMIN and history[0]["history"][0]["outcome"] == "ok"
    metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    assert re.search(r'spyglass_notifications_total\{(channel="email",outcome="delivered"|outcome="delivered",channel="email")\} 2', metrics)


def test_implicit_tls_with_auth_login(tmp_path, start_server, tls):
    context, ca_file = tls
    mailbox = Mailbox()
    port = free_port()
    # The whole connection is TLS; aiosmtpd offers AUTH there only with auth_require_tls off.
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, ssl_context=context, authenticator=mailbox.authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        start(start_server, tmp_path / "data", SPYGLASS_SMTP_URL=f"smtps://alerts:s3cret%20pass@127.0.0.1:{port}?auth=login",
              SPYGLASS_SMTP_CA_FILE=ca_file)
        send_error("Inventory")
        wait_until(lambda: mailbox.messages, what="the mail over implicit TLS")
        assert mailbox.mechanisms == ["LOGIN"]
        assert mailbox.messages[0][1]["Subject"].startswith("[Spyglass] New issue in default: InventoryError")
    finally:
        controller.stop()


def test_sendtestmail(tmp_path, smtp):
    env = clean_env(SPYGLASS_EMAIL_FROM="spyglass@example.com", **smtp.env)
    result = run_cli("sendtestmail", "--to", "me@example.com", data_dir=tmp_path, env=env)
    assert "sent" in result.stdout
    recipients, mail = smtp.messages[0]
    assert recipients == ["me@example.com"] and mail["Subject"] == "[Spyglass] Test e-mail"

    wrong = dict(env, SPYGLASS_SMTP_URL=smtp.env["SPYGLASS_SMTP_URL"].replace("s3cret", "wrong"))
    failed = run_cli("sendtestmail", "--to", "me@example.com", data_dir=tmp_path, env=wrong, check=False)
    assert failed.returncode != 0 and "AUTH answered 535" in failed.stderr
    unconfigured = run_cli("sendtestmail", "--to", "me@example.com", data_dir=tmp_path, env=clean_env(), check=False)
    assert unconfigured.returncode == 2 and "SPYGLASS_SMTP_URL" in unconfigured.stderr
    assert len(smtp.messages) == 1


def test_signed_webhook_slack_and_discord(tmp_path, start_server, receiver):
    server, api = start(start_server, tmp_path / "data")
    only_webhook_rules(api)
    rule = create_rule(
        api, name="Hooks", conditions=[{"id": "first_seen"}],
        actions=[
            {"id": "webhook", "url": receiver.url("/hook"), "secret": "hook-secret-1"},
            {"id": "slack", "url": receiver.url("/slack")},
            {"id": "spyglass.actions.Discord", "url": receiver.url("/discord")},
        ],
    )
    assert rule["conditions"][0]["id"] == "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"
    event_id = send_error("Hook")
    wait_until(lambda: len(receiver.requests) == 3, what="three webhook posts")
    by_path = {path: (headers, body) for path, headers, body in receiver.requests}
    issue = api.issues()[0]
    url = f"{BASE}/organizations/spyglass/issues/{issue['id']}/"

    headers, body = by_path["/hook"]
    expected = hmac.new(b"hook-secret-1", body, hashlib.sha256).hexdigest()
    assert headers["X-Spyglass-Signature"] == expected and headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["trigger"] == "new_issue" and payload["rule"]["name"] == "Hooks"
    assert payload["issue"]["title"] == "HookError: payment declined" and payload["issue"]["url"] == url
    assert payload["event"]["eventId"] == event_id and payload["project"]["slug"] == "default"
    assert headers["X-Spyglass-Delivery"] == payload["delivery"]

    slack = json.loads(by_path["/slack"][1])
    assert "HookError: payment declined" in slack["text"] and f"<{url}|" in slack["text"]
    discord = json.loads(by_path["/discord"][1])
    assert discord["embeds"][0]["url"] == url and discord["embeds"][0]["title"] == "HookError: payment declined"
    assert discord["allowed_mentions"] == {"parse": []}

    deliveries = api.get(f"projects/spyglass/default/rules/{rule['id']}/deliveries/").json()
    assert sorted(d["channel"] for d in deliveries) == ["discord", "slack", "webhook"]
    assert all(d["status"] == "delivered" for d in deliveries)
    metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    assert re.search(r'spyglass_notifications_total\{(channel="webhook",outcome="delivered"|outcome="delivered",channel="webhook")\} 1', metrics)
    assert "spyglass_notification_outbox_depth 0" in metrics


def test_a_down_receiver_gets_the_webhook_once_it_is_back(tmp_path, start_server):
    port = free_port()
    server, api = start(start_server, tmp_path / "data")
    only_webhook_rules(api)
    create_rule(api, name="Down", conditions=[{"id": "first_seen"}], actions=[{"id": "webhook", "url": f"http://127.0.0.1:{port}/hook"}])
    send_error("Down")
    issue_id = api.issues()[0]["id"]
    pending = wait_until(
        lambda: [d for d in api.get(f"issues/{issue_id}/deliveries/").json() if d["attempts"] >= 2], what="two failed attempts"
    )[0]
    assert pending["status"] == "pending" and pending["lastError"] and pending["nextAttempt"]

    receiver = Receiver(port)
    try:
        wait_until(lambda: api.get(f"issues/{issue_id}/deliveries/").json()[0]["status"] == "delivered", timeout=30, what="delivery")
        time.sleep(1)
        assert len(receiver.requests) == 1
        history = api.get(f"issues/{issue_id}/deliveries/").json()[0]["history"]
        assert [h["outcome"] for h in history][-1] == "ok" and all(h["outcome"] == "error" for h in history[:-1])
    finally:
        receiver.stop()


def test_a_restart_mid_retry_neither_loses_nor_repeats_the_delivery(tmp_path, start_server):
    port = free_port()
    data = tmp_path / "data"
    server, api = start(start_server, data)
    only_webhook_rules(api)
    create_rule(api, name="Restart", conditions=[{"id": "first_seen"}], actions=[{"id": "webhook", "url": f"http://127.0.0.1:{port}/hook"}])
    send_error("Restart")
    issue_id = api.issues()[0]["id"]
    wait_until(lambda: api.get(f"issues/{issue_id}/deliveries/").json()[0]["attempts"] >= 1, what="a failed attempt")
    assert server.stop() == 0

    receiver = Receiver(port)
    try:
        again, api = start(start_server, data)
        wait_until(lambda: api.get(f"issues/{issue_id}/deliveries/").json()[0]["status"] == "delivered", timeout=30, what="delivery")
        time.sleep(1.5)
        assert len(receiver.requests) == 1
        delivery = api.get(f"issues/{issue_id}/deliveries/").json()
        assert len(delivery) == 1 and delivery[0]["history"][0]["outcome"] == "error"
    finally:
        receiver.stop()


def test_the_frequency_trigger_fires_once_above_the_threshold(tmp_path, start_server, receiver):
    server, api = start(start_server, tmp_path / "data")
    only_webhook_rules(api)
    create_rule(
        api, name="Busy", frequency=30,
        conditions=[{"id": "sentry.rules.conditions.event_frequency.EventFrequencyCondition", "value": 3, "interval": "1h"}],
        actions=[{"id": "webhook", "url": receiver.url()}],
    )
    for _ in range(3):
        send_error("Busy")
    time.sleep(2)
    assert receiver.requests == []  # 3 is not more than 3
    send_error("Busy")
    wait_until(lambda: receiver.requests, what="the frequency webhook")
    assert json.loads(receiver.requests[0][2])["trigger"] == "frequency"
    for _ in range(4):
        send_error("Busy")
    time.sleep(2)
    assert len(receiver.requests) == 1  # throttled for 30 minutes


def test_private_addresses_are_refused_unless_allowed(tmp_path, start_server, receiver):
    # A rule saved while private addresses were allowed, delivered after they no longer are.
    server, api = start(start_server, tmp_path / "data")
    only_webhook_rules(api)
    create_rule(api, name="Internal", conditions=[{"id": "first_seen"}], actions=[{"id": "webhook", "url": receiver.url()}])
    server.stop()
    server, api = start(start_server, tmp_path / "data", SPYGLASS_WEBHOOK_ALLOW_PRIVATE=None)
    # Saving such a rule now is refused, with the reason.
    refused = api.post_json("projects/spyglass/default/rules/", {
        "name": "Local", "conditions": [{"id": "first_seen"}], "actions": [{"id": "slack", "url": "http://localhost:9/x"}]})
    assert refused.status_code == 400 and refused.json()["detail"].startswith("actions[0].url: deliveries to localhost are refused: ")
    assert "loopback" in refused.json()["detail"]
    send_error("Private")
    issue_id = api.issues()[0]["id"]
    failed = wait_until(
        lambda: [d for d in api.get(f"issues/{issue_id}/deliveries/").json() if d["status"] == "failed"], what="a refused delivery"
    )[0]
    assert "loopback" in failed["lastError"] and failed["attempts"] == 1
    assert receiver.requests == []


def test_rules_api(tmp_path, start_server, receiver):
    server, api = start(start_server, tmp_path / "data")
    rules = api.get("projects/spyglass/default/rules/").json()
    assert [r["name"] for r in rules] == ["Send a notification for new and regressed issues"]
    assert rules[0]["actions"] == [{"id": "sentry.mail.actions.NotifyEmailAction", "targetType": "Members"}]

    created = create_rule(api, name="Hook", conditions=[{"id": "first_seen"}], actions=[{"id": "webhook", "url": receiver.url(), "secret": "hook-secret-2"}])
    # Secrets are write-only: shown as set, never returned.
    assert "secret" not in created["actions"][0] and created["actions"][0]["secretSet"] is True
    path = f"projects/spyglass/default/rules/{created['id']}/"
    assert api.get(path).json()["name"] == "Hook"
    updated = api.put(path, dict(created, status="disabled", name="Hook (off)", actions=[{"id": "webhook", "url": receiver.url()}]))
    assert updated.status_code == 200 and updated.json()["status"] == "disabled"
    assert updated.json()["actions"][0]["secretSet"] is True  # kept for the same URL
    assert "hook-secret-2" in query(tmp_path / "data", "SELECT spec FROM alert_rule WHERE id = ?", int(created["id"]))[0][0]

    only = [r for r in api.get("projects/spyglass/default/rules/").json() if r["id"] != created["id"]]
    for rule in only:
        api.delete(f"projects/spyglass/default/rules/{rule['id']}/")
    send_error("Disabled")
    time.sleep(2)
    assert receiver.requests == []  # the rule is off

    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404

    bad = {
        "conditions[0]": {"name": "x", "conditions": [{"id": "nope"}], "actions": [{"id": "email"}]},
        "frequency": {"name": "x", "frequency": 0, "conditions": [{"id": "first_seen"}], "actions": [{"id": "email"}]},
        "actions[0].url": {"name": "x", "conditions": [{"id": "first_seen"}], "actions": [{"id": "webhook", "url": "ftp://x"}]},
        "name": {"conditions": [{"id": "first_seen"}], "actions": [{"id": "email"}]},
        "actions": {"name": "x", "conditions": [{"id": "first_seen"}], "actions": []},
    }
    for field, body in bad.items():
        response = api.post_json("projects/spyglass/default/rules/", body)
        assert response.status_code == 400 and response.json()["detail"].startswith(field), (field, response.text)

    # A user who is not a member of the project sees no rules of it.
    run_cli("user", "create", "--email", "outsider@example.com", "--password", "correct-horse-9", data_dir=tmp_path / "data")
    outsider = API(server, tmp_path / "data", email="outsider@example.com")
    assert outsider.get("projects/spyglass/default/rules/").status_code == 404


def test_plain_smtp_without_tls(tmp_path):
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env = clean_env(SPYGLASS_SMTP_URL=f"smtp://127.0.0.1:{port}", SPYGLASS_EMAIL_FROM="spyglass@example.com")
        run_cli("sendtestmail", "--to", "me@example.com", data_dir=tmp_path, env=env)
        assert [m["Subject"] for _, m in mailbox.messages] == ["[Spyglass] Test e-mail"]
        assert mailbox.mechanisms == []
    finally:
        controller.stop()


def test_webhook_redirects_are_not_followed(tmp_path, start_server, receiver):
    server, api = start(start_server, tmp_path / "data", SPYGLASS_NOTIFY_ATTEMPTS="2")
    only_webhook_rules(api)
    create_rule(api, name="Redirect", conditions=[{"id": "first_seen"}], actions=[{"id": "webhook", "url": receiver.url("/redirect")}])
    send_error("Redirect")
    issue_id = api.issues()[0]["id"]
    failed = wait_until(
        lambda: [d for d in api.get(f"issues/{issue_id}/deliveries/").json() if d["status"] == "failed"], what="a failed delivery"
    )[0]
    assert failed["attempts"] == 2 and "302" in failed["lastError"]
    assert [path for path, _, _ in receiver.requests] == ["/redirect", "/redirect"]


def test_a_webhook_without_a_secret_is_delivered_unsigned(tmp_path, start_server, receiver):
    # Secrets are write-only, so a generated one nobody could read would sign for nobody: without one, no signature.
    server, api = start(start_server, tmp_path / "data")
    only_webhook_rules(api)
    rule = create_rule(api, name="Unsigned", conditions=[{"id": "first_seen"}], actions=[{"id": "webhook", "url": receiver.url("/plain")}])
    assert rule["actions"][0]["secretSet"] is False
    send_error("Unsigned")
    wait_until(lambda: receiver.requests, what="the webhook post")
    path, headers, body = receiver.requests[0]
    assert path == "/plain" and "X-Spyglass-Signature" not in headers and headers["X-Spyglass-Delivery"]
    assert json.loads(body)["rule"]["name"] == "Unsigned"


def test_assigning_an_issue_mails_the_assignee_once(tmp_path, start_server, smtp):
    """The assignee is told through the outbox: once per assignment to them, never for assigning oneself."""
    server, api = start(start_server, tmp_path / "data", **smtp.env)
    only_webhook_rules(api)  # no alert rule: every mail here is an assignment's
    run_cli("user", "create", "--email", "dev@example.com", "--password", "correct-horse-9", data_dir=tmp_path / "data")
    run_cli("project", "add-member", "default", "dev@example.com", data_dir=tmp_path / "data")
    send_error()
    wait_until(lambda: api.issues(), what="the issue")
    issue = api.issues()[0]

    for _ in range(2):  # the second time changes nothing: no second mail
        assert api.put(f"issues/{issue['id']}/", {"assignedTo": "dev@example.com"}).status_code == 200
    wait_until(lambda: smtp.messages, what="the assignment mail")
    recipients, mail = smtp.messages[0]
    assert recipients == ["dev@example.com"]
    assert mail["Subject"] == "[Spyglass] Assigned to you in default: CheckoutError: payment declined"
    text = mail.get_body(("plain",)).get_content()
    assert f"{ADMIN} assigned the issue to you" in text and f"{BASE}/organizations/spyglass/issues/{issue['id']}/" in text
    # Assigning oneself tells nobody.
    assert api.put(f"issues/{issue['id']}/", {"assignedTo": ADMIN}).status_code == 200
    time.sleep(2)
    assert len(smtp.messages) == 1
    history = api.get(f"issues/{issue['id']}/deliveries/").json()
    assert [(d["trigger"], d["target"], d["status"]) for d in history] == [("assigned", "dev@example.com", "delivered")]

    # The stream shows who each issue is assigned to.
    assert api.put(f"issues/{issue['id']}/", {"assignedTo": "dev@example.com"}).status_code == 200
    wait_until(lambda: len(smtp.messages) == 2, what="the mail of the second assignment to dev")
    from test_hostile_input import session_for
    page = session_for(server, email="dev@example.com", password="correct-horse-9").get(
        f"{server.url}/organizations/spyglass/issues/?query=assigned:me", timeout=10).text
    assert 'title="assigned to dev@example.com">→ me</span>' in page and issue["shortId"] in page


def test_the_rule_form_sends_test_notifications_regenerates_the_secret_and_refuses_a_private_webhook(
    tmp_path, start_server, receiver, smtp, browser
):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    from test_web_ui import PASSWORD, screenshot, sign_in
    from test_web_ui import wait_until as on_page  # waits through a page being replaced

    server, api = start(start_server, tmp_path / "data", SPYGLASS_ADMIN_PASSWORD=PASSWORD, **smtp.env)
    only_webhook_rules(api)
    rule = create_rule(api, name="Hooks", conditions=[{"id": "first_seen"}], actions=[
        {"id": "email", "targetType": "Members"},
        {"id": "webhook", "url": receiver.url("/hook"), "secret": "old-secret-1"},
        {"id": "slack", "url": receiver.url("/slack")},
    ])
    page = f"{server.url}/settings/spyglass/projects/default/alerts/{rule['id']}/"
    driver = browser
    sign_in(driver, server, email=ADMIN)
    driver.get(page)

    def gone(element):
        try:
            element.is_enabled()
            return False
        except StaleElementReferenceException:
            return True

    def test(kind):
        before = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.CSS_SELECTOR, f"button.test[value={kind}]").click()
        on_page(lambda: gone(before), what="the page answering the test")
        return on_page(lambda: driver.find_element(By.ID, "test-outcome").text, what=f"the {kind} test's outcome")

    # Each action's test goes out now, through the same sender as alerts, and says what happened in place.
    assert test("webhook") == "Test notification sent: accepted."
    path, headers, body = receiver.requests[-1]
    assert path == "/hook" and json.loads(body)["issue"]["title"] == "Test notification from Spyglass"
    expected = hmac.new(b"old-secret-1", body, hashlib.sha256).hexdigest()
    assert headers["X-Spyglass-Signature"] == expected
    assert test("slack") == "Test notification sent: accepted." and receiver.requests[-1][0] == "/slack"
    assert test("members").startswith("Test notification sent: sent to 1 recipient(s) via ")
    wait_until(lambda: smtp.messages, what="the test mail")
    assert smtp.messages[-1][0] == [ADMIN] and "Test notification from Spyglass" in smtp.messages[-1][1]["Subject"]
    # A failing receiver: the failure and why, and the form as it was (nothing saved).
    url = driver.find_element(By.NAME, "webhook_url")
    url.clear()
    url.send_keys(f"http://127.0.0.1:{free_port()}/gone")
    outcome = test("webhook")
    assert outcome.startswith("Test notification failed: 127.0.0.1: ") and "test-outcome" in driver.page_source
    assert driver.find_element(By.NAME, "webhook_url").get_attribute("value").endswith("/gone")
    assert api.get(f"projects/spyglass/default/rules/{rule['id']}/").json()["actions"][1]["url"] == receiver.url("/hook")
    screenshot(driver, "alert-rule-test-failed.png")

    # A new secret: shown once after saving, used from then on, never shown again.
    driver.get(page)
    driver.find_element(By.ID, "regenerate-secret").click()
    driver.find_element(By.CSS_SELECTOR, "form.rule-form button.primary").click()
    secret = on_page(lambda: driver.find_element(By.ID, "secret-value").text, what="the new secret")
    assert len(secret) == 64 and secret != "old-secret-1"
    assert test("webhook") == "Test notification sent: accepted."
    _, headers, body = receiver.requests[-1]
    assert headers["X-Spyglass-Signature"] == hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    driver.get(page)
    assert secret not in driver.page_source and not driver.find_elements(By.ID, "secret-value")


def test_the_rule_form_refuses_a_webhook_the_server_would_never_call(tmp_path, start_server, browser):
    from selenium.webdriver.common.by import By

    from test_web_ui import PASSWORD, sign_in
    from test_web_ui import wait_until as on_page  # waits through a page being replaced

    server, api = start(start_server, tmp_path / "data", SPYGLASS_ADMIN_PASSWORD=PASSWORD, SPYGLASS_WEBHOOK_ALLOW_PRIVATE=None)
    before = api.get("projects/spyglass/default/rules/").json()
    driver = browser
    sign_in(driver, server, email=ADMIN)
    driver.get(f"{server.url}/settings/spyglass/projects/default/alerts/new/")
    driver.find_element(By.NAME, "name").send_keys("Internal hook")
    driver.find_element(By.CSS_SELECTOR, "input[name=when][value=first_seen]").click()
    driver.find_element(By.CSS_SELECTOR, "input[name=then][value=webhook]").click()
    driver.find_element(By.NAME, "webhook_url").send_keys("http://10.1.2.3/hook")
    driver.find_element(By.CSS_SELECTOR, "form.rule-form button.primary").click()
    error = on_page(lambda: driver.find_element(By.CSS_SELECTOR, "p.error[role=alert]").text, what="the refusal")
    assert error.startswith("Not saved: the webhook URL would never be called: deliveries to 10.1.2.3 are refused: ")
    assert "private" in error.lower() and "SPYGLASS_WEBHOOK_ALLOW_PRIVATE" in error
    # The form keeps what was typed; nothing was stored.
    assert driver.find_element(By.NAME, "webhook_url").get_attribute("value") == "http://10.1.2.3/hook"
    assert api.get("projects/spyglass/default/rules/").json() == before
