"""Triage decisions are visible and say what they mean, in headless Chromium against real sentry-sdk events: the
status badge and the activity state the condition ("ignored until 100 more events, 97 to go", "resolved in the
next release after shop@1.1.0") and who decided; a merge names the issues merged and who merged them."""

import time

import pytest
import sentry_sdk

from test_issues_api import API
from test_web_ui import browser, screenshot, server, sign_in, wait_until  # noqa: F401 (fixtures)

# Status, activity and merges live in storage: both backends.
pytestmark = pytest.mark.backends


def send(kind, times=1):
    error_type = type(f"{kind}Error", (Exception,), {})
    for _ in range(times):
        try:
            raise error_type(f"{kind.lower()} failed")
        except Exception as error:
            sentry_sdk.capture_exception(error)
    sentry_sdk.flush()


@pytest.fixture
def issues(server, tmp_path):
    sentry_sdk.init(dsn=server.dsn, release="shop@1.1.0", environment="production")
    for kind in ("Checkout", "Payment", "Refund"):
        send(kind)
    api = API(server, tmp_path / "data")
    deadline = time.monotonic() + 15
    while len(api.issues("")) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    return api, {issue["metadata"]["type"]: issue for issue in api.issues("")}


def status_and_activity(driver):
    from selenium.webdriver.common.by import By

    status = driver.find_element(By.ID, "status").text
    activity = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "ol.timeline li")]
    return status, activity


def test_the_badge_and_the_activity_state_each_decisions_condition_and_who_made_it(browser, server, issues):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    api, by_type = issues
    driver = browser
    sign_in(driver, server)
    checkout = by_type["CheckoutError"]
    page = f"{server.url}/organizations/spyglass/issues/{checkout['id']}/"

    driver.get(page)
    Select(driver.find_element(By.NAME, "ignore")).select_by_value("count:100")
    driver.find_element(By.CSS_SELECTOR, "button[name=action][value=ignore]").click()
    wait_until(lambda: "Ignored until" in driver.find_element(By.ID, "status").text, what="the ignored badge")
    status, activity = status_and_activity(driver)
    assert status == "Ignored until 100 more events, 100 to go"
    assert activity[0].startswith("admin@example.com ignored it until 100 more events")
    send("Checkout", times=3)
    wait_until(lambda: api.get(f"issues/{checkout['id']}/").json()["count"] == "4", what="three more events")
    driver.get(page)
    assert status_and_activity(driver)[0] == "Ignored until 100 more events, 97 to go"
    screenshot(driver, "triage-ignored.png")

    driver.find_element(By.CSS_SELECTOR, "button[name=action][value=unresolve]").click()
    wait_until(lambda: driver.find_element(By.ID, "status").text == "Unresolved", what="unresolved")
    driver.find_element(By.CSS_SELECTOR, "button[name=action][value=resolve_next_release]").click()
    wait_until(lambda: driver.find_element(By.ID, "status").text.startswith("Resolved"), what="resolved")
    status, activity = status_and_activity(driver)
    assert status == "Resolved in the next release after shop@1.1.0"
    assert activity[0].startswith("admin@example.com resolved it in the next release after shop@1.1.0")
    assert any(line.startswith("admin@example.com unresolved it") for line in activity)

    # Merging in the stream: the parent's activity names what was merged, and who merged it.
    payment, refund = by_type["PaymentError"], by_type["RefundError"]
    driver.get(f"{server.url}/organizations/spyglass/issues/?query=is:unresolved")
    for issue in (payment, refund):
        driver.find_element(By.CSS_SELECTOR, f"input[name=id][value='{issue['id']}']").click()
    driver.find_element(By.CSS_SELECTOR, "#stream button[name=action][value=merge]").click()
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "table.stream tr.issue")) == 1, what="one issue left")
    parent = api.issues("is:unresolved")[0]
    child = refund if parent["id"] == payment["id"] else payment
    driver.get(f"{server.url}/organizations/spyglass/issues/{parent['id']}/")
    _, activity = status_and_activity(driver)
    assert activity[0].startswith(f"admin@example.com merged {child['shortId']} into this issue"), activity
    screenshot(driver, "triage-merged.png")


def test_tokens_have_scopes_the_api_checks_and_show_when_they_were_last_used(browser, server, issues, tmp_path):
    import requests
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _, by_type = issues
    issue = by_type["CheckoutError"]
    driver = browser
    sign_in(driver, server)
    tokens = {}
    for scope in ("read", "write", "admin"):
        driver.get(f"{server.url}/settings/account/")
        form = driver.find_element(By.CSS_SELECTOR, "form[action='/settings/account/tokens/']")
        form.find_element(By.NAME, "name").send_keys(f"{scope} token")
        Select(form.find_element(By.NAME, "scope")).select_by_value(scope)
        form.find_element(By.TAG_NAME, "button").click()
        tokens[scope] = wait_until(lambda: driver.find_element(By.ID, "new-token").text, what="the new token")

    def call(scope, method, path, **body):
        return requests.request(method, f"{server.url}/api/0/{path}", json=body or None, timeout=10,
                                headers={"Authorization": f"Bearer {tokens[scope]}"})

    assert call("read", "GET", f"issues/{issue['id']}/").status_code == 200
    refused = call("read", "PUT", f"issues/{issue['id']}/", status="resolved")
    assert refused.status_code == 403 and "scope is read" in refused.json()["detail"]
    assert call("write", "PUT", f"issues/{issue['id']}/", status="resolved").status_code == 200
    refused = call("write", "DELETE", f"issues/{issue['id']}/")
    assert refused.status_code == 403 and refused.json()["detail"] == "this token's scope is write; this needs the admin scope"
    assert call("admin", "DELETE", f"issues/{issue['id']}/").status_code in (202, 204)
    # The CLI makes scoped tokens too; a scope it does not know is refused.
    from conftest import run_cli
    cli_token = run_cli("token", "create", "--user", "admin@example.com", "--scope", "read", data_dir=tmp_path / "data").stdout.split()[-1]
    refused = requests.put(f"{server.url}/api/0/issues/{by_type['PaymentError']['id']}/", json={"status": "resolved"},
                           headers={"Authorization": f"Bearer {cli_token}"}, timeout=10)
    assert refused.status_code == 403
    bad = run_cli("token", "create", "--user", "admin@example.com", "--scope", "root", data_dir=tmp_path / "data", check=False)
    assert bad.returncode != 0 and "--scope" in bad.stderr
    # Sentry's API index lists only the scopes the token grants.
    scopes = call("read", "GET", "").json()["auth"]["scopes"]
    assert scopes and all(scope.endswith(":read") for scope in scopes)

    driver.get(f"{server.url}/settings/account/")
    rows = {row.find_element(By.CSS_SELECTOR, "td").text: row for row in driver.find_elements(By.CSS_SELECTOR, "tr.token")}
    rows = {name: row for name, row in rows.items() if name.endswith(" token")}  # the fixture's own is "cli"
    assert {name: row.find_element(By.CSS_SELECTOR, ".badge").text.lower() for name, row in rows.items()} == {
        "read token": "read", "write token": "write", "admin token": "admin"}
    for row in rows.values():
        assert row.find_element(By.CSS_SELECTOR, "td.last-used").text == "just now"


def test_the_issue_page_lists_the_affected_users_with_their_events_behind_the_user_count(browser, server, issues):
    from selenium.webdriver.common.by import By

    api, by_type = issues
    # Without send_default_pii the SDK drops a user's IP address.
    sentry_sdk.init(dsn=server.dsn, release="shop@1.1.0", environment="production", send_default_pii=True)
    people = [({"id": "u-1", "email": "ann@example.com", "username": "ann"}, 3),
              ({"email": "bob@example.com"}, 1),
              ({"ip_address": "198.51.100.7"}, 2)]
    for user, times in people:
        sentry_sdk.set_user(user)
        send("Checkout", times=times)
        time.sleep(0.05)  # last seen in this order
    sentry_sdk.set_user(None)
    checkout = by_type["CheckoutError"]
    wait_until(lambda: api.get(f"issues/{checkout['id']}/").json()["count"] == "7", what="six more events")
    # A second issue with ann in it: merged, her events add up.
    sentry_sdk.set_user(people[0][0])
    send("Payment", times=2)
    payment = by_type["PaymentError"]
    wait_until(lambda: api.get(f"issues/{payment['id']}/").json()["count"] == "3", what="two more payment events")
    merged = api.put("projects/spyglass/default/issues/", {"merge": 1}, params={"id": [checkout["id"], payment["id"]]})
    assert merged.status_code == 200, merged.text
    parent = merged.json()["merge"]["parent"]

    driver = browser
    sign_in(driver, server)
    driver.get(f"{server.url}/organizations/spyglass/issues/{parent}/")
    link = driver.find_element(By.CSS_SELECTOR, "#user-count a")
    assert link.text == "3"
    link.click()
    rows = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in driver.find_elements(By.CSS_SELECTOR, "#users table.users tbody tr")]
    # Most recently seen first: ann (Payment, last), the IP address, bob.
    assert [row[:5] for row in rows] == [
        ["u-1", "ann@example.com", "ann", "", "5"],
        ["—", "", "", "198.51.100.7", "2"],
        ["—", "bob@example.com", "", "", "1"],
    ], rows
    assert all(row[5] for row in rows)
    # Each user links to the stream of the issues that reached them.
    driver.find_element(By.CSS_SELECTOR, "#users table.users tbody tr a").click()
    wait_until(lambda: "user.id" in driver.find_element(By.NAME, "query").get_attribute("value"), what="the user's stream")
    assert driver.find_element(By.NAME, "query").get_attribute("value").endswith("user.id:u-1")
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.stream tr.issue")) == 1
