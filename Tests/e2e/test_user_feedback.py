"""User feedback as the JavaScript and Java SDKs send it (the Python SDK has none): a `user_report` item
(Java's `Sentry.captureUserFeedback`, older JavaScript SDKs) and a `feedback` item, feedback sent as an event
(`Sentry.captureFeedback` of the JavaScript SDK 8+), shown on the issue page and through Sentry's API."""

import json
import time
import uuid

import pytest
import requests
import sentry_sdk

from conftest import DSN_RE
from test_hostile_input import session_for
from test_issues_api import API

# Feedback and the events it is about live in storage: both backends.
pytestmark = pytest.mark.backends

PASSWORD = "correct-horse-9"


def post(server, header, item_type, payload):
    key, _, project = DSN_RE.match(server.dsn).groups()
    body = "\n".join([json.dumps(header), json.dumps({"type": item_type}), json.dumps(payload)]) + "\n"
    response = requests.post(
        f"{server.url}/api/{project}/envelope/", data=body, timeout=10,
        headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.javascript.browser/8.40.0"})
    assert response.status_code == 200, response.text


def test_feedback_about_an_event_shows_on_its_issue_and_in_the_api(tmp_path, start_server):
    from conftest import clean_env

    server = start_server(data_dir=tmp_path / "data", env=clean_env(SPYGLASS_ADMIN_PASSWORD=PASSWORD))
    api = API(server, tmp_path / "data")
    sentry_sdk.init(dsn=server.dsn)
    try:
        raise RuntimeError("checkout hangs")
    except RuntimeError as error:
        event_id = sentry_sdk.capture_exception(error)
    sentry_sdk.flush(timeout=10)
    issue = api.issues()[0]

    # Java's captureUserFeedback (and the JavaScript SDK before 8): a user_report item naming the event.
    sent_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    post(server, {"event_id": event_id, "sent_at": sent_at}, "user_report",
         {"event_id": event_id, "name": "Jane Doe", "email": "jane@example.com", "comments": "Paid twice <script>alert(1)</script>"})
    # The JavaScript SDK 8's captureFeedback: a feedback event whose contexts.feedback names the event.
    feedback_id = uuid.uuid4().hex
    post(server, {"event_id": feedback_id, "sent_at": sent_at, "sdk": {"name": "sentry.javascript.browser", "version": "8.40.0"}},
         "feedback", {
             "event_id": feedback_id, "timestamp": time.time(), "level": "info", "platform": "javascript", "type": "feedback",
             "contexts": {"feedback": {"message": "The button does nothing", "contact_email": "bob@example.com", "name": "Bob",
                                       "associated_event_id": event_id, "url": "https://shop.example/checkout",
                                       "source": "widget"}}})
    # Feedback about nothing in particular belongs to the project only.
    general_id = uuid.uuid4().hex
    post(server, {"event_id": general_id, "sent_at": sent_at}, "feedback", {
        "event_id": general_id, "timestamp": time.time(), "type": "feedback",
        "contexts": {"feedback": {"message": "Love the new design", "name": "Cy", "contact_email": "cy@example.com"}}})

    listed = api.get("projects/spyglass/default/user-feedback/").json()
    assert [(r["name"], r["email"], r["comments"]) for r in listed] == [
        ("Cy", "cy@example.com", "Love the new design"),
        ("Bob", "bob@example.com", "The button does nothing"),
        ("Jane Doe", "jane@example.com", "Paid twice <script>alert(1)</script>"),
    ]
    assert [r["eventID"] for r in listed] == [None, event_id, event_id]
    assert [r["issue"] and r["issue"]["id"] for r in listed] == [None, issue["id"], issue["id"]]
    assert all(r["dateCreated"].endswith("Z") for r in listed)
    of_issue = api.get(f"issues/{issue['id']}/user-feedback/").json()
    assert [r["name"] for r in of_issue] == ["Bob", "Jane Doe"]
    assert api.get(f"organizations/spyglass/issues/{issue['id']}/user-feedback/").json() == of_issue

    page = session_for(server, password=PASSWORD).get(f"{server.url}/organizations/spyglass/issues/{issue['id']}/", timeout=10)
    assert page.status_code == 200
    feedback = page.text[page.text.index('id="feedback"'):page.text.index('class="activity"')]
    assert "Jane Doe" in feedback and "jane@example.com" in feedback and "The button does nothing" in feedback
    assert "Paid twice &lt;script&gt;alert(1)&lt;/script&gt;" in feedback and "<script>alert(1)" not in page.text
    assert "Love the new design" not in feedback
    assert f"events/{event_id}/" in feedback
