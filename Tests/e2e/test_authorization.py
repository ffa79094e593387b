"""Authorization with the real binary: members read and triage, project admins manage alert rules and settings,
the server admin sees every project, and a webhook secret is never shown (docs/authorization.md)."""

import re

import pytest
import requests

from conftest import clean_env, query, run_cli

# Roles and memberships are read from storage: both backends.
pytestmark = pytest.mark.backends

PASSWORD = "correct-horse-9"
SECRET = "hook-secret-never-shown-7"


class Client:
    """A user of one server: an API token (from `spyglass token create`) and a logged-in web session."""

    def __init__(self, server, data_dir, email):
        self.url = server.url
        out = run_cli("token", "create", "--user", email, data_dir=data_dir).stdout
        self.headers = {"Authorization": f"Bearer {out.strip().splitlines()[-1]}"}
        self.web = requests.Session()
        form = self.web.get(self.url + "/login", timeout=10)
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text).group(1)
        login = self.web.post(self.url + "/login", data={"csrf": csrf, "email": email, "password": PASSWORD, "next": "/"}, timeout=10, allow_redirects=False)
        assert login.status_code == 303, login.text
        self.seen = []  # every response body, to look for the secret

    def api(self, method, path, body=None):
        response = requests.request(method, f"{self.url}/api/0/{path}", headers=self.headers, json=body, timeout=10)
        self.seen.append(response.text)
        return response

    def page(self, path, form=None):
        if form is None:
            response = self.web.get(self.url + path, timeout=10)
        else:
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', self.web.get(self.url + "/settings/account/", timeout=10).text).group(1)
            response = self.web.post(self.url + path, data={"csrf": csrf, **form}, timeout=10, allow_redirects=False)
        self.seen.append(response.text)
        return response


def webhook_rule(name, secret=None):
    action = {"id": "webhook", "url": "https://hooks.example.com/spyglass"} | ({"secret": secret} if secret else {})
    return {"name": name, "conditions": [{"id": "first_seen"}], "actions": [action]}


def outside_mail_rule(name):
    return {"name": name, "conditions": [{"id": "first_seen"}], "actions": [{"id": "email", "targetType": "Addresses", "addresses": ["someone@outside.example"]}]}


def test_members_read_project_admins_manage_and_the_admin_sees_a_project_made_before_the_first_serve(tmp_path, start_server):
    data = tmp_path / "data"
    # Before the first `serve`: a project, and its people, made with the CLI.
    run_cli("project", "create", "Billing", "--slug", "billing", data_dir=data)
    for email in ("lead@example.com", "dev@example.com", "outsider@example.com"):
        run_cli("user", "create", "--email", email, "--password", PASSWORD, data_dir=data)
    run_cli("project", "add-member", "billing", "lead@example.com", "--admin", data_dir=data)
    run_cli("project", "add-member", "billing", "dev@example.com", data_dir=data)
    server = start_server(data_dir=data, env=clean_env(SPYGLASS_ADMIN_PASSWORD=PASSWORD))
    admin, lead, dev, outsider = (Client(server, data, f"{who}@example.com") for who in ("admin", "lead", "dev", "outsider"))

    # The admin account the first `serve` made is no member of billing, and sees it everywhere all the same.
    admin_id = query(data, "SELECT id FROM user WHERE email = 'admin@example.com'")[0][0]
    assert query(data, "SELECT count(*) FROM project_member WHERE user_id = ?", admin_id) == [(0,)]
    assert "billing" in [p["slug"] for p in admin.api("GET", "projects/").json()]
    assert admin.api("GET", "projects/spyglass/billing/").status_code == 200
    assert "billing" in admin.page("/organizations/spyglass/issues/").text
    assert admin.page("/settings/spyglass/projects/billing/").status_code == 200

    # A rule with a webhook secret: the answer says only that a secret is set.
    created = admin.api("POST", "projects/spyglass/billing/rules/", webhook_rule("Hook", SECRET))
    assert created.status_code == 201 and created.json()["actions"][0] == {
        "id": "spyglass.actions.Webhook", "url": "https://hooks.example.com/spyglass", "secretSet": True}
    rule = f"projects/spyglass/billing/rules/{created.json()['id']}/"

    # A plain member reads rules (no secret), but changes none, mails nobody outside, and leaves the settings alone.
    assert dev.api("GET", "projects/spyglass/billing/rules/").status_code == 200
    assert dev.api("GET", rule).json()["actions"][0]["secretSet"] is True
    assert dev.api("PUT", rule, webhook_rule("Mine", "another-secret-1")).status_code == 403
    assert dev.api("DELETE", rule).status_code == 403
    assert dev.api("POST", "projects/spyglass/billing/rules/", outside_mail_rule("Leak")).status_code == 403
    assert dev.api("PUT", "projects/spyglass/billing/", {"resolveAge": 1}).status_code == 403
    assert dev.page(f"/settings/spyglass/projects/billing/alerts/{created.json()['id']}/").status_code == 200
    assert dev.page(f"/settings/spyglass/projects/billing/alerts/{created.json()['id']}/delete/", form={}).status_code == 403
    assert dev.page("/settings/spyglass/projects/billing/resolve-age/", form={"hours": "1"}).status_code == 403
    assert query(data, "SELECT count(*) FROM alert_rule WHERE name IN ('Mine', 'Leak')") == [(0,)]
    assert query(data, "SELECT resolve_age_hours FROM project WHERE slug = 'billing'") == [(None,)]
    # A user of no project of billing's learns nothing of it.
    assert outsider.api("GET", rule).status_code == 404
    assert outsider.api("PUT", "projects/spyglass/billing/", {"resolveAge": 1}).status_code == 404
    assert outsider.api("GET", "projects/spyglass/billing/").text == outsider.api("GET", "projects/spyglass/nothing-here/").text.replace("nothing-here", "billing")

    # The project admin may: an update without a secret keeps it, outside addresses, project settings, delete.
    kept = lead.api("PUT", rule, webhook_rule("Hook (renamed)"))
    assert kept.status_code == 200 and kept.json()["actions"][0]["secretSet"] is True
    assert SECRET in query(data, "SELECT spec FROM alert_rule WHERE id = ?", int(created.json()["id"]))[0][0]
    assert lead.api("POST", "projects/spyglass/billing/rules/", outside_mail_rule("Outside")).status_code == 201
    assert lead.api("PUT", "projects/spyglass/billing/", {"resolveAge": 12}).json()["resolveAge"] == 12
    form = lead.page(f"/settings/spyglass/projects/billing/alerts/{created.json()['id']}/")
    assert form.status_code == 200 and "secret set" in form.text
    unsigned = lead.api("POST", "projects/spyglass/billing/rules/", webhook_rule("Unsigned"))
    assert unsigned.json()["actions"][0]["secretSet"] is False
    assert lead.api("DELETE", rule).status_code == 204

    # The secret was never in any answer, to anyone.
    for client in (admin, lead, dev, outsider):
        assert not [body for body in client.seen if SECRET in body]
