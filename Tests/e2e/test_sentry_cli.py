"""Sentry's own command-line client, `sentry-cli` from PyPI, against Spyglass: each command run as a team moving from
Sentry would (SENTRY_URL, SENTRY_AUTH_TOKEN, SENTRY_ORG, SENTRY_PROJECT; `git` for set-commits), then the server's
state checked."""

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


PASSWORD = "correct-horse-9"


@pytest.fixture
def cli(tmp_path, start_server):
    from conftest import clean_env

    server = start_server(data_dir=tmp_path / "data", env=clean_env(SPYGLASS_ADMIN_PASSWORD=PASSWORD))
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

    run.api, run.server, run.environment, run.password = api, server, environment, PASSWORD
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

    # Merging by search, with no issue named, is refused (sentry-cli never asks it; a stray request must not merge all).
    refused_merge = api.put("projects/spyglass/default/issues/", {"merge": 1})
    assert refused_merge.status_code == 400 and "?id=" in refused_merge.json()["detail"]

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


def git(repo, *args):
    environment = {**os.environ, "GIT_AUTHOR_NAME": "Ann Dev", "GIT_AUTHOR_EMAIL": "ann@example.com",
                   "GIT_COMMITTER_NAME": "Ann Dev", "GIT_COMMITTER_EMAIL": "ann@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=environment, check=True, capture_output=True, text=True).stdout.strip()


def test_set_commits_from_local_git_from_a_repository_head_and_explicitly(cli, tmp_path):
    api = cli.api
    repo = tmp_path / "shop"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    # Not github.com: a machine's git config may rewrite that host (insteadOf), and sentry-cli's libgit2 reads it.
    git(repo, "remote", "add", "origin", "https://gitlab.example.com/acme/shop.git")
    (repo / "cart.py").write_text("def total(): return 0\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add the cart")
    (repo / "cart.py").write_text("def total(): return 1\n")
    (repo / "pay.py").write_text("def pay(): pass\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Pay for the cart\n\nWith a body.")
    head = git(repo, "rev-parse", "HEAD")
    first = git(repo, "rev-parse", "HEAD~1")

    def set_commits(*args, check=True):
        result = subprocess.run([str(CLI), "releases", "set-commits", *args], cwd=repo, env=cli.environment,
                                capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    # --local: the commits of the local history, with message, author and changed files.
    assert "Success! Set commits for release shop@1.0" in set_commits("shop@1.0", "--local").stdout
    commits = api.get("organizations/spyglass/releases/shop@1.0/commits/").json()
    assert [c["id"] for c in commits] == [head, first]
    assert commits[0]["message"].rstrip() == "Pay for the cart\n\nWith a body."
    assert commits[0]["author"] == {"name": "Ann Dev", "email": "ann@example.com"}
    assert sorted((f["filename"], f["type"]) for f in commits[0]["files"]) == [("cart.py", "M"), ("pay.py", "A")]
    release = api.get("organizations/spyglass/releases/shop@1.0/").json()
    assert release["commitCount"] == 2 and release["lastCommit"] == {"id": head}

    # The next release's range starts after the previous release's newest commit.
    (repo / "pay.py").write_text("def pay(): return True\n")
    git(repo, "commit", "-q", "-am", "Pay for real")
    newest = git(repo, "rev-parse", "HEAD")
    set_commits("shop@1.1", "--local")
    assert [c["id"] for c in api.get("organizations/spyglass/releases/shop@1.1/commits/").json()] == [newest]

    # With the repository known, --auto sends the remote's head; --commit names one (the sha alone is kept: no code
    # host is asked for the range).
    created = api.post_json("organizations/spyglass/repos/", {
        "name": "acme/shop", "url": "https://gitlab.example.com/acme/shop", "provider": "integrations:gitlab"})
    assert created.status_code == 201, created.text
    assert [r["name"] for r in api.get("organizations/spyglass/repos/").json()] == ["acme/shop"]
    set_commits("shop@2.0", "--auto")
    auto = api.get("organizations/spyglass/releases/shop@2.0/commits/").json()
    assert [(c["id"], c["repository"]["name"]) for c in auto] == [(newest, "acme/shop")]
    set_commits("shop@2.1", "--commit", f"acme/shop@{first}")
    assert [c["id"] for c in api.get("organizations/spyglass/releases/shop@2.1/commits/").json()] == [first]
    assert "Clearing commits" in set_commits("shop@2.1", "--clear").stdout
    assert api.get("organizations/spyglass/releases/shop@2.1/commits/").json() == []
    unknown = set_commits("shop@2.2", "--commit", f"acme/other@{first}", check=False)
    assert unknown.returncode != 0 and "acme/other" in unknown.stderr

    # The release page lists them; an issue first seen in the release links there.
    cli("send-event", "-m", "cart total is wrong", "--release", "shop@1.0")
    issue = next(i for i in api.issues() if i["title"] == "cart total is wrong")
    from test_hostile_input import session_for

    web = session_for(cli.server, password=cli.password)
    page = web.get(f"{cli.server.url}/organizations/spyglass/releases/shop@1.0/", timeout=10).text
    assert head[:12] in page and "Pay for the cart" in page and "pay.py" in page and "Commits <span class=\"muted\">(2)" in page
    issue_page = web.get(f"{cli.server.url}/organizations/spyglass/issues/{issue['id']}/", timeout=10).text
    assert "2 commits</a>" in issue_page and "/releases/shop@1.0/?project=1#commits" in issue_page
