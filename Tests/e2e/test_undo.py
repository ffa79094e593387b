"""Decisions are reversible, in headless Chromium against real sentry-sdk events: bulk resolve, ignore and merge
and the `r` key answer with a confirmation line and Undo that puts each issue back as it was; bulk with nothing
selected says so in place; a release the project does not have is an inline error with the known releases
offered; the issue page unmerges per hash (with the events it moves) and merges similar issues."""

import pytest
import sentry_sdk

from test_triage import issues  # noqa: F401 (fixture: three issues of shop@1.1.0)
from test_web_ui import browser, screenshot, server, sign_in, wait_until  # noqa: F401 (fixtures)

# Statuses, merges and unmerges live in storage: both backends.
pytestmark = pytest.mark.backends


def stream_ids(driver):
    from selenium.webdriver.common.by import By

    return {row.get_attribute("data-id") for row in driver.find_elements(By.CSS_SELECTOR, "table.stream tr.issue")}


def confirmation(driver):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "confirmation-text").text


def test_bulk_changes_and_the_r_key_confirm_with_an_undo_that_restores_each_issue(browser, server, issues):
    from selenium.webdriver.common.by import By

    api, by_type = issues
    checkout, payment, refund = by_type["CheckoutError"], by_type["PaymentError"], by_type["RefundError"]
    # One issue starts ignored with a condition: Undo gives that condition back, not a plain "unresolved".
    assert api.put(f"issues/{refund['id']}/", {"status": "ignored", "statusDetails": {"ignoreCount": 100}}).status_code == 200
    driver = browser
    sign_in(driver, server)
    stream = f"{server.url}/organizations/spyglass/issues/?query="
    driver.get(stream)

    # Nothing selected: said in place, on the stream.
    driver.find_element(By.CSS_SELECTOR, "#stream button[name=action][value=resolve]").click()
    wait_until(lambda: driver.find_element(By.ID, "confirmation"), what="the confirmation line")
    line = driver.find_element(By.ID, "confirmation")
    assert "problem" in line.get_attribute("class") and line.get_attribute("role") == "alert"
    assert confirmation(driver) == "Nothing selected: tick one or more issues first."
    assert stream_ids(driver) == {checkout["id"], payment["id"], refund["id"]}
    assert not driver.find_elements(By.ID, "undo")

    # Bulk resolve of two, then Undo: each is back as it was, and the activity says who did what.
    for issue in (checkout, refund):
        driver.find_element(By.CSS_SELECTOR, f"input[name=id][value='{issue['id']}']").click()
    driver.find_element(By.CSS_SELECTOR, "#stream button[name=action][value=resolve]").click()
    wait_until(lambda: confirmation(driver) == "Resolved 2 issues.", what="resolved 2 issues")
    assert api.get(f"issues/{checkout['id']}/").json()["status"] == "resolved"
    assert api.get(f"issues/{refund['id']}/").json()["status"] == "resolved"
    screenshot(driver, "undo-resolved.png")
    driver.find_element(By.ID, "undo").click()
    wait_until(lambda: confirmation(driver).startswith("Undone"), what="undone")
    assert api.get(f"issues/{checkout['id']}/").json()["status"] == "unresolved"
    restored = api.get(f"issues/{refund['id']}/").json()
    assert restored["status"] == "ignored" and restored["statusDetails"].get("ignoreCount") == 100, restored
    driver.get(f"{server.url}/organizations/spyglass/issues/{checkout['id']}/")
    activity = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "ol.timeline li")]
    assert activity[0].startswith("admin@example.com unresolved it") and activity[1].startswith("admin@example.com resolved it")

    # The r key: the focused issue is resolved, with the same line and Undo.
    driver.get(f"{server.url}/organizations/spyglass/issues/?query=is:unresolved")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.stream tr.issue")
    first = rows[0].get_attribute("data-id")
    driver.find_element(By.TAG_NAME, "body").send_keys("j")
    driver.find_element(By.TAG_NAME, "body").send_keys("r")
    wait_until(lambda: confirmation(driver) == "Resolved 1 issue.", what="resolved by the r key")
    assert first not in stream_ids(driver)
    driver.find_element(By.ID, "undo").click()
    wait_until(lambda: first in stream_ids(driver), what="the issue back in the unresolved stream")
    assert api.get(f"issues/{first}/").json()["status"] == "unresolved"

    # Merge with one issue selected says why nothing happened; a merge of two has Undo, which splits them again.
    driver.find_element(By.CSS_SELECTOR, f"input[name=id][value='{payment['id']}']").click()
    driver.find_element(By.CSS_SELECTOR, "#stream button[name=action][value=merge]").click()
    wait_until(lambda: confirmation(driver) == "Select at least two issues of one project to merge.", what="merge needs two")
    for issue in (checkout, payment):
        driver.find_element(By.CSS_SELECTOR, f"input[name=id][value='{issue['id']}']").click()
    driver.find_element(By.CSS_SELECTOR, "#stream button[name=action][value=merge]").click()
    wait_until(lambda: confirmation(driver).startswith("Merged 2 issues into DEFAULT-"), what="merged")
    assert len(api.issues("is:unresolved")) == 1
    driver.find_element(By.ID, "undo").click()
    wait_until(lambda: confirmation(driver).startswith("Undone: the merged issues are apart again"), what="merge undone")
    apart = api.issues("is:unresolved")
    assert len(apart) == 2 and sorted(issue["metadata"]["type"] for issue in apart) == ["CheckoutError", "PaymentError"]
    assert all(issue["count"] == "1" for issue in apart)


def test_the_issue_page_offers_releases_explains_a_bad_one_unmerges_per_hash_and_merges_similar_issues(browser, server, issues):
    from selenium.webdriver.common.by import By

    api, by_type = issues
    checkout, payment = by_type["CheckoutError"], by_type["PaymentError"]
    driver = browser
    sign_in(driver, server)
    page = f"{server.url}/organizations/spyglass/issues/{checkout['id']}/"
    driver.get(page)

    # The release box offers the project's releases; one it does not have is explained in place.
    options = [option.get_attribute("value") for option in driver.find_elements(By.CSS_SELECTOR, "datalist#releases option")]
    assert options == ["shop@1.1.0"]
    form = driver.find_element(By.ID, "resolve-in-release")
    form.find_element(By.NAME, "release").send_keys("shop@9.9.9")
    form.find_element(By.TAG_NAME, "button").click()
    error = wait_until(lambda: driver.find_element(By.ID, "release-error").text, what="the release error")
    assert error.startswith("There is no release “shop@9.9.9” in this project.") and "sentry-cli releases new" in error
    assert api.get(f"issues/{checkout['id']}/").json()["status"] == "unresolved"
    form = driver.find_element(By.ID, "resolve-in-release")
    form.find_element(By.NAME, "release").clear()
    form.find_element(By.NAME, "release").send_keys("shop@1.1.0")
    form.find_element(By.TAG_NAME, "button").click()
    wait_until(lambda: driver.find_element(By.ID, "status").text == "Resolved in shop@1.1.0", what="resolved in the release")
    assert not driver.find_elements(By.ID, "release-error")
    api.put(f"issues/{checkout['id']}/", {"status": "unresolved"})

    # Merged issues show their hashes with the events each would move; Unmerge splits one out.
    merged = api.put("projects/spyglass/default/issues/", {"merge": 1}, params={"id": [checkout["id"], payment["id"]]})
    parent = merged.json()["merge"]["parent"]
    driver.get(f"{server.url}/organizations/spyglass/issues/{parent}/")
    hashes = driver.find_elements(By.CSS_SELECTOR, "table.hashes tr")
    assert [row.find_elements(By.TAG_NAME, "td")[1].text for row in hashes] == ["1 event", "1 event"]
    hashes[0].find_element(By.TAG_NAME, "button").click()
    wait_until(lambda: confirmation(driver).startswith("Moved 1 event into DEFAULT-"), what="unmerged")
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.hashes tr")) == 1
    assert not driver.find_elements(By.CSS_SELECTOR, "table.hashes button"), "the only hash cannot be unmerged"
    # One hash: all the issue's events came by it (not counted per hash on every page).
    assert driver.find_element(By.CSS_SELECTOR, "table.hashes tr td.muted").text == "all events"
    driver.find_element(By.CSS_SELECTOR, "#confirmation a").click()
    wait_until(lambda: driver.find_element(By.ID, "event-count").text == "1", what="the new issue's page")
    assert len(api.issues("")) == 3

    # Two messages with the same text and different fingerprints: similar issues, merged from the issue page.
    for fingerprint in ("disk-a", "disk-b"):
        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = [fingerprint]
            sentry_sdk.capture_message("Disk full on /var")
    sentry_sdk.flush()
    wait_until(lambda: len(api.issues("Disk")) == 2, what="two disk issues")
    disk = api.issues("Disk")
    driver.get(f"{server.url}/organizations/spyglass/issues/{disk[0]['id']}/")
    similar = driver.find_elements(By.CSS_SELECTOR, ".similar")
    assert [item.find_element(By.TAG_NAME, "a").text for item in similar] == [disk[1]["shortId"]]
    similar[0].find_element(By.TAG_NAME, "button").click()
    wait_until(lambda: confirmation(driver).startswith("Merged 2 issues into "), what="merged from the issue page")
    assert len(api.issues("Disk")) == 1
    screenshot(driver, "undo-merged-similar.png")


def test_an_undo_made_by_someone_else_changes_nothing(browser, server, issues):
    """The Undo line's data is signed by the session that made the change: a crafted link shows no Undo, and a
    posted Undo with another signature is refused."""
    from selenium.webdriver.common.by import By

    from test_web_ui import page_csrf, session_for

    api, by_type = issues
    checkout = by_type["CheckoutError"]
    driver = browser
    sign_in(driver, server)
    driver.get(f"{server.url}/organizations/spyglass/issues/?query=&done=resolve&undo={checkout['id']}~resolved&sig=00")
    assert not driver.find_elements(By.ID, "confirmation") and not driver.find_elements(By.ID, "undo")
    admin = session_for(server, "admin@example.com")
    csrf = page_csrf(admin.get(f"{server.url}/organizations/spyglass/issues/", timeout=10).text)
    refused = admin.post(f"{server.url}/organizations/spyglass/issues/bulk/", timeout=10, data={
        "csrf": csrf, "action": "undo", "undo": f"{checkout['id']}~resolved", "sig": "0" * 64})
    assert refused.status_code == 400 and "not made by your session" in refused.text
    assert api.get(f"issues/{checkout['id']}/").json()["status"] == "unresolved"
