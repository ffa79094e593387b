"""Sentry's own command-line client, `sentry-cli` from PyPI, against Spyglass: each command run as a team moving from
Sentry would (SENTRY_URL, SENTRY_AUTH_TOKEN, SENTRY_ORG, SENTRY_PROJECT), then the server's state checked."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import query
from test_issues_api import API

# Issues, releases and deploys live in storage: both backends.
pytestmark = pytest.mark.backends

CLI = Path(sys.executable).parent / "sentry-cli"


@pytest.fixture
def cli(tmp_path, start_server):
    server = start_server(data_dir=tmp_path / "data")
    api = API(server, tmp_path / "data")
    environment = {
        **os.environ, "SENTRY_URL": server.url, "SENTRY_AUTH_TOKEN": api.headers["Authorization"].split()[1],
        "SENTRY_ORG": "spyglass", "SENTRY_PROJECT": "default", "SENTRY_DSN": server.dsn,
        # No update checks or crash reports to sentry.io from the tool itself.
        "SENTRY_DISABLE_UPDATE_CHECK": "1", "SENTRY_CLI_NO_EXIT_TRAP": "1",
    }

    def run(*args, check=True):
        result = subprocess.run([str(CLI), *args], env=environment, capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    run.api = api
    return run


def test_version_is_the_one_this_suite_targets():
    assert subprocess.run([str(CLI), "--version"], capture_output=True, text=True).stdout.split() == ["sentry-cli", "3.8.2"]


def test_info_shows_the_tokens_user_and_scopes(cli):
    out = cli("info").stdout
    assert "User: admin@example.com" in out and "project:releases" in out and "org:admin" in out


def test_send_event_then_list_query_resolve_mute_and_unresolve_issues(cli):
    api = cli.api
    first = cli("send-event", "-m", "checkout failed", "--level", "error").stdout
    cli("send-event", "-m", "disk almost full", "--level", "warning")
    event_id = next(line.split()[-1] for line in first.splitlines() if line.startswith("Event id:")).replace("-", "")
    stored = api.get(f"projects/spyglass/default/events/{event_id}/")
    assert stored.status_code == 200 and stored.json()["message"] == "checkout failed"
    issues = {issue["title"]: issue for issue in api.issues()}
    assert set(issues) == {"checkout failed", "disk almost full"}
    checkout, disk = issues["checkout failed"], issues["disk almost full"]

    # `issues list` asks for its first page with an empty cursor; --query filters on the server.
    listing = cli("issues", "list").stdout
    assert checkout["shortId"] in listing and disk["shortId"] in listing
    warnings = cli("issues", "list", "--query", "is:unresolved level:warning").stdout
    assert disk["shortId"] in warnings and checkout["shortId"] not in warnings
    assert checkout["shortId"] in cli("issues", "list", "--status", "unresolved").stdout

    def status(issue):
        return api.get(f"issues/{issue['id']}/").json()["status"]

    assert "new status: resolved" in cli("issues", "resolve", "-i", checkout["id"]).stdout
    assert (status(checkout), status(disk)) == ("resolved", "unresolved")
    cli("issues", "mute", "--status", "unresolved")
    assert (status(checkout), status(disk)) == ("resolved", "ignored")
    cli("issues", "unresolve", "--status", "muted")
    assert (status(checkout), status(disk)) == ("resolved", "unresolved")
    cli("issues", "unresolve", "-i", checkout["id"])
    assert status(checkout) == "unresolved"
    listing = cli("issues", "list", "--query", "is:resolved").stdout
    assert "No issues found" in listing

    # An issue id of no issue is refused, naming it.
    refused = cli("issues", "resolve", "-i", "999999", check=False)
    assert refused.returncode != 0 and "999999" in refused.stderr


def test_releases_and_deploys_from_new_to_delete(cli):
    api = cli.api
    version = f"shop@{uuid.uuid4().hex[:8]}"
    assert f"Created release {version}" in cli("releases", "new", version).stdout
    assert version in cli("releases", "list").stdout
    assert "(unreleased)" in cli("releases", "list").stdout
    assert f"Finalized release {version}" in cli("releases", "finalize", version).stdout
    info = cli("releases", "info", version).stdout
    assert version in info
    cli("deploys", "new", "-r", version, "-e", "production", "-n", "deploy-7")
    assert "deploy-7" in cli("deploys", "list", "-r", version).stdout
    release = api.get(f"organizations/spyglass/releases/{version}/").json()
    assert release["dateReleased"] is not None and release["deployCount"] == 1
    assert release["lastDeploy"]["environment"] == "production"

    assert "Deleted release" in cli("releases", "delete", version).stdout
    assert api.get(f"organizations/spyglass/releases/{version}/").status_code == 404
    assert query(api.data_dir, "SELECT count(*) FROM deploy") == [(0,)]
    assert "does not exist" in cli("releases", "delete", version).stdout

    # A release an issue was first seen in is kept, as Sentry keeps it.
    cli("releases", "new", "shop@1.0")
    cli("send-event", "-m", "seen in 1.0", "--release", "shop@1.0")
    refused = cli("releases", "delete", "shop@1.0", check=False)
    assert refused.returncode != 0 and "referenced by active issues" in refused.stderr
    assert api.get("organizations/spyglass/releases/shop@1.0/").status_code == 200
