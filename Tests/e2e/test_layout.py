"""Layout and reading comfort in headless Chromium, at 1400 and 1024 px: no word broken inside a button or badge
(each one's text must lie on one line), a message-only event at full width, breadcrumbs folded to the last ten
with "show all", the stack trace newest or oldest call first (remembered), times in the browser's time zone with
UTC on hover, and counts with the right noun."""

import pytest
import sentry_sdk

from test_issues_api import API
from test_web_ui import browser, screenshot, server, sign_in, wait_until  # noqa: F401 (fixtures)

# Pages read through the storage ports; the layout does not depend on the backend: SQLite.

# How many lines each element's text takes: a Range over the text reports one rectangle per line.
LINES = """
return Array.from(document.querySelectorAll(arguments[0])).filter(e => e.offsetParent !== null).map(e => {
  const range = document.createRange();
  range.selectNodeContents(e);
  const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
  return [e.textContent.trim(), tops.size];
});
"""


def broken(driver, selector):
    return [(text, lines) for text, lines in driver.execute_script(LINES, selector) if lines > 1 and text]


@pytest.fixture
def traffic(server, tmp_path):
    sentry_sdk.init(dsn=server.dsn, release="shop@1.0.0", max_breadcrumbs=50, default_integrations=False)
    # Starting the browser and the server left subprocess breadcrumbs behind (the stdlib patches stay installed).
    for scope in (sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope()):
        scope.clear_breadcrumbs()
    for index in range(15):
        sentry_sdk.add_breadcrumb(category="checkout.step", message=f"step {index}", level="warning")

    def nested():
        raise ValueError("payment declined")

    def outer():
        nested()

    try:
        outer()
    except ValueError:
        sentry_sdk.capture_exception()
    sentry_sdk.capture_message("nightly export finished with 3 warnings", level="warning")
    sentry_sdk.flush()
    api = API(server, tmp_path / "data")
    wait_until(lambda: len(api.issues("")) == 2, what="two issues")
    return {issue["metadata"].get("type") or "message": issue for issue in api.issues("")}


@pytest.mark.parametrize("width", [1400, 1024])
def test_no_word_breaks_inside_buttons_or_badges_and_messages_use_the_width(browser, server, traffic, width):
    from selenium.webdriver.common.by import By

    driver = browser
    driver.set_window_size(width, 1000)
    sign_in(driver, server)
    pages = {
        "stream": f"{server.url}/organizations/spyglass/issues/",
        "error": f"{server.url}/organizations/spyglass/issues/{traffic['ValueError']['id']}/",
        "message": f"{server.url}/organizations/spyglass/issues/{traffic['message']['id']}/",
        "alerts": f"{server.url}/settings/spyglass/projects/default/alerts/",
        "releases": f"{server.url}/organizations/spyglass/releases/",
    }
    for name, url in pages.items():
        driver.get(url)
        assert broken(driver, "button, .badge, a.button") == [], (name, width)
        screenshot(driver, f"layout-{name}-{width}.png")
    driver.get(pages["message"])
    message = driver.find_element(By.CSS_SELECTOR, "pre.message")
    assert driver.execute_script("return getComputedStyle(arguments[0]).marginTop", message) == "0px"
    # As wide as the event column it stands in (it was a narrow centred box with 10vh above and below).
    column = message.find_element(By.XPATH, "./..")
    assert message.size["width"] >= 0.95 * column.size["width"], (message.size, column.size)
    driver.get(pages["error"])
    assert broken(driver, ".breadcrumbs td.level, .breadcrumbs td.category") == []


def test_breadcrumbs_fold_frames_reorder_and_times_are_local(browser, server, traffic):
    from selenium.webdriver.common.by import By

    driver = browser
    # A reader in Berlin.
    driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Europe/Berlin"})
    sign_in(driver, server)
    page = f"{server.url}/organizations/spyglass/issues/{traffic['ValueError']['id']}/"
    driver.get(page)

    latest = driver.find_elements(By.CSS_SELECTOR, ".breadcrumbs table.latest tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, ".crumb-message").text for row in latest] == [f"step {i}" for i in range(5, 15)]
    older = driver.find_element(By.CSS_SELECTOR, ".breadcrumbs details.older")
    assert older.find_element(By.TAG_NAME, "summary").text == "Show all 15 breadcrumbs (5 older)"
    assert not older.find_element(By.CSS_SELECTOR, "tbody tr").is_displayed()
    older.find_element(By.TAG_NAME, "summary").click()
    assert older.find_element(By.CSS_SELECTOR, "tbody tr td.crumb-message").text == "step 0"

    def functions():
        return [frame.text for frame in driver.find_elements(By.CSS_SELECTOR, "section.exception ol.frames > li .function")]

    newest_first = functions()
    assert newest_first[:2] == ["nested", "outer"], newest_first
    toggle = driver.find_element(By.ID, "frames-order")
    assert toggle.text == "Oldest call first"
    toggle.click()
    assert functions() == list(reversed(newest_first)) and toggle.text == "Most recent call first"
    driver.get(page)  # remembered
    assert functions() == list(reversed(newest_first))
    driver.find_element(By.ID, "frames-order").click()

    stamp = driver.find_element(By.CSS_SELECTOR, ".event-header time, time.local")
    assert stamp.get_attribute("title").endswith(" UTC") and not stamp.text.endswith(" UTC"), (stamp.text, stamp.get_attribute("title"))
    assert "GMT+1" in stamp.text or "CET" in stamp.text or "GMT+2" in stamp.text or "CEST" in stamp.text, stamp.text
    relative = driver.find_element(By.CSS_SELECTOR, "dl.seen time")
    assert relative.text in ("just now",) or relative.text.endswith("ago"), relative.text
    assert relative.get_attribute("title").endswith(" UTC")
