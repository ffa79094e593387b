"""Releases, deploys, regressions and the issue lifecycle, with the real sentry-sdk (sentry-cli: test_sentry_cli.py)."""

import time

import pytest
import sentry_sdk

from conftest import query, run_cli

# Releases, deploys and regressions live in storage: both backends.
pytestmark = pytest.mark.backends
from test_issues_api import API, capture


def checkout(amount):
    raise RuntimeError("card processor unavailable")


@pytest.fixture
def env(tmp_path, start_server):
    data = tmp_path / "data"
    server = start_server(data_dir=data, args=["--retention-interval", "0.3"])
    return server, API(server, data)


def send(server, release, count=1, **scope_user):
    sentry_sdk.init(dsn=server.dsn, release=release, environment="production")
    if scope_user:
        sentry_sdk.set_user(scope_user)
    ids = [capture(checkout, n) for n in range(count)]
    sentry_sdk.flush(timeout=10)
    return ids


def state(api, issue_id):
    issue = api.get(f"issues/{issue_id}/").json()
    return issue["status"], issue["substatus"], issue["statusDetails"]


def activity_types(api, issue_id):
    return [a["type"] for a in reversed(api.get(f"issues/{issue_id}/activities/").json()["activity"])]


def test_lifecycle_across_releases(env):
    server, api = env
    send(server, "shop@1.0.0")
    issue = api.issues()[0]["id"]
    assert state(api, issue) == ("unresolved", "new", {})
    assert activity_types(api, issue) == ["first_seen"]

    # Resolved in the next release: more events from 1.0.0 are expected and covered.
    assert api.put(f"issues/{issue}/", {"status": "resolved", "statusDetails": {"inNextRelease": True}}).status_code == 200
    assert state(api, issue) == ("resolved", None, {"inNextRelease": True})
    send(server, "shop@1.0.0")
    assert state(api, issue)[0] == "resolved"

    # 1.1.0 is that next release; an event from it is a regression.
    send(server, "shop@1.1.0")
    assert state(api, issue) == ("unresolved", "regressed", {})
    regression = api.get(f"issues/{issue}/activities/").json()["activity"][0]
    assert regression["type"] == "set_regression" and regression["data"]["version"] == "shop@1.1.0"

    # Resolved in release 2.0.0: events of older releases are covered, 2.0.0 itself regresses.
    created = api.post_json("organizations/spyglass/releases/", {"version": "shop@2.0.0", "projects": ["default"]})
    assert created.status_code == 201, created.text
    response = api.put(f"issues/{issue}/", {"status": "resolved", "statusDetails": {"inRelease": "shop@2.0.0"}})
    assert response.status_code == 200 and response.json()["statusDetails"] == {"inRelease": "shop@2.0.0"}
    send(server, "shop@1.1.0")
    assert state(api, issue)[0] == "resolved"
    send(server, "shop@2.0.0")
    assert state(api, issue)[:2] == ("unresolved", "regressed")

    # "latest" names the newest release.
    latest = api.put(f"issues/{issue}/", {"status": "resolved", "statusDetails": {"inRelease": "latest"}})
    assert latest.json()["statusDetails"] == {"inRelease": "shop@2.0.0"}

    # Resolved without a release: any event regresses it.
    api.put(f"issues/{issue}/", {"status": "resolved"})
    send(server, "shop@1.0.0")
    assert state(api, issue)[:2] == ("unresolved", "regressed")

    # Ignored until 3 more events: the third brings it back.
    response = api.put(f"issues/{issue}/", {"status": "ignored", "statusDetails": {"ignoreCount": 3}})
    assert response.json()["statusDetails"] == {"ignoreCount": 3}
    assert state(api, issue)[:2] == ("ignored", "archived_until_condition_met")
    send(server, "shop@2.0.0", count=2)
    assert state(api, issue)[0] == "ignored"
    send(server, "shop@2.0.0")
    assert state(api, issue)[:2] == ("unresolved", "escalating")

    # Ignored forever stays ignored.
    api.put(f"issues/{issue}/", {"status": "ignored"})
    send(server, "shop@2.0.0", count=3)
    assert state(api, issue)[:2] == ("ignored", "archived_forever")
    api.put(f"issues/{issue}/", {"status": "unresolved"})

    comment = api.post_json(f"issues/{issue}/comments/", {"text": "Fixed by retrying the processor."})
    assert comment.status_code == 201 and comment.json()["data"]["text"] == "Fixed by retrying the processor."
    assert activity_types(api, issue) == [
        "first_seen", "set_resolved", "set_regression", "set_resolved", "set_regression", "set_resolved",
        "set_resolved", "set_regression", "set_ignored", "set_unresolved", "set_ignored", "set_unresolved", "note",
    ]
    resolved = api.get(f"issues/{issue}/activities/").json()["activity"]
    how = [a["data"].get("how") for a in reversed(resolved) if a["type"] == "set_resolved"]
    assert how == ["in_next_release", "in_release", "in_release", "now"]
    assert all(a["user"]["email"] == "admin@example.com" for a in resolved if a["type"] in ("set_resolved", "note"))

    # The regression events are pinned: retention keeps them whatever the limits.
    pinned = query(api.data_dir, "SELECT count(*) FROM event WHERE pinned = 1")[0][0]
    assert pinned == 4

    # Releases: first/last event, new issues, environments.
    releases = {r["version"]: r for r in api.get("projects/spyglass/default/releases/").json()}
    assert set(releases) == {"shop@1.0.0", "shop@1.1.0", "shop@2.0.0"}
    assert releases["shop@1.0.0"]["newGroups"] == 1 and releases["shop@1.1.0"]["newGroups"] == 0
    assert releases["shop@2.0.0"]["environments"] == ["production"] and releases["shop@2.0.0"]["lastEvent"]


def test_every_ignore_variant_round_trips(env):
    server, api = env
    send(server, "shop@1.0.0")
    issue = api.issues()[0]["id"]
    for details, substatus in [
        ({"ignoreUserCount": 5}, "archived_until_condition_met"),
        ({"ignoreUntilEscalating": True}, "archived_until_escalating"),
        ({"ignoreCount": 7}, "archived_until_condition_met"),
    ]:
        response = api.put(f"issues/{issue}/", {"status": "ignored", "statusDetails": details})
        assert response.status_code == 200, response.text
        assert (response.json()["substatus"], response.json()["statusDetails"]) == (substatus, details)
    timed = api.put(f"issues/{issue}/", {"status": "ignored", "statusDetails": {"ignoreDuration": 30}})
    until = timed.json()["statusDetails"]["ignoreUntil"]
    assert until > time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 29 * 60))
    # Ignored for a moment: the periodic job brings it back.
    api.put(f"issues/{issue}/", {"status": "ignored", "statusDetails": {"ignoreUntil": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))}})
    deadline = time.monotonic() + 6
    while state(api, issue)[0] == "ignored" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state(api, issue)[:2] == ("unresolved", "escalating")


def test_semver_ordering_decides_coverage_not_creation_time(env):
    server, api = env
    send(server, "shop@2.0.0")
    issue = api.issues()[0]["id"]
    api.put(f"issues/{issue}/", {"status": "resolved", "statusDetails": {"inRelease": "shop@2.0.0"}})
    send(server, "shop@1.9.5")  # a backport, created later but older by semver: covered
    assert state(api, issue)[0] == "resolved"
    send(server, "shop@2.0.1")
    assert state(api, issue)[:2] == ("unresolved", "regressed")


def test_bad_status_details_are_refused(env):
    server, api = env
    send(server, "shop@1.0.0")
    issue = api.issues()[0]["id"]
    for body, message in [
        ({"status": "resolved", "statusDetails": {"inRelease": "shop@9.9.9"}}, "no release"),
        ({"status": "ignored", "statusDetails": {"ignoreCount": -1}}, "ignoreCount"),
        ({"status": "resolved", "statusDetails": {"ignoreCount": 5}}, "do not fit"),
        ({"status": "sleeping"}, "status"),
    ]:
        response = api.put(f"issues/{issue}/", body)
        assert response.status_code == 400 and message in response.json()["detail"], (body, response.text)
    assert state(api, issue)[0] == "unresolved"


def test_auto_resolve_and_aging(env):
    server, api = env
    sentry_sdk.init(dsn=server.dsn, release="shop@1.0.0")
    with sentry_sdk.new_scope() as scope:
        # An issue first and last seen 8 days ago: new turns ongoing; with a 1-hour resolve age it resolves.
        scope.add_event_processor(lambda event, hint: {**event, "timestamp": time.time() - 8 * 86400})
        capture(checkout, 1)
    sentry_sdk.flush(timeout=10)
    issue = api.issues()[0]["id"]
    deadline = time.monotonic() + 5
    while state(api, issue)[1] != "ongoing" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state(api, issue)[:2] == ("unresolved", "ongoing")
    response = api.put("projects/spyglass/default/", {"resolveAge": 1})
    assert response.status_code == 200 and response.json()["resolveAge"] == 1
    deadline = time.monotonic() + 5
    while state(api, issue)[0] != "resolved" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state(api, issue)[0] == "resolved"
    assert activity_types(api, issue)[-1] == "auto_resolved"


def test_release_health_from_sessions(env):
    server, api = env
    sentry_sdk.init(dsn=server.dsn, release="shop@3.0.0", environment="production")
    scope = sentry_sdk.get_isolation_scope()
    for crashed in (False, False, False, True):
        scope.start_session()
        if crashed:
            scope._session.update(status="crashed")
        scope.end_session()
    sentry_sdk.flush(timeout=10)
    release = api.get("organizations/spyglass/releases/shop@3.0.0/").json()
    health = release["healthData"]
    assert (health["sessionsStarted"], health["sessionsCrashed"]) == (4, 1)
    assert health["crashFreeSessions"] == 75.0
    assert health["byEnvironment"][0]["environment"] == "production"
