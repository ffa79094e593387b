"""Seeing over time, in headless Chromium against real sentry-sdk events dated across two weeks: the time range
picker (1h … 90d, custom days) on the stream and the issue page, the counts, user counts and histograms that
follow it, histogram axes and hover values, and the per-release and per-environment breakdown."""

import datetime
import time

import pytest
import sentry_sdk

from test_issues_api import API
from test_web_ui import browser, screenshot, server, sign_in, wait_until  # noqa: F401 (fixtures)

# Counts per range are queries on both backends.
pytestmark = pytest.mark.backends

NOW = datetime.datetime.now(datetime.timezone.utc)


def dated(days_ago, release, environment, user):
    """Sends one CheckoutError `days_ago` days back, as the SDK would have then."""
    when = NOW - datetime.timedelta(days=days_ago)

    def before_send(event, hint):
        event["timestamp"] = when.isoformat()
        return event

    sentry_sdk.init(dsn=dated.dsn, release=release, environment=environment, before_send=before_send)
    sentry_sdk.set_user({"id": user})
    try:
        raise type(dated.kind, (Exception,), {})("declined")
    except Exception as error:
        sentry_sdk.capture_exception(error)
    sentry_sdk.flush()


@pytest.fixture
def history(server, tmp_path):
    # Sent in the order they happened (an issue's first release is that of the first event it received).
    dated.dsn = server.dsn
    dated.kind = "LegacyError"
    dated(10, "shop@1.0", "production", "u3")
    dated.kind = "CheckoutError"
    for _ in range(3):
        dated(3, "shop@1.0", "staging", "u2")
    for _ in range(2):
        dated(0, "shop@1.1", "production", "u1")
    api = API(server, tmp_path / "data")
    deadline = time.monotonic() + 15
    while sum(int(issue["count"]) for issue in api.issues("")) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    return api, {issue["metadata"]["type"]: issue for issue in api.issues("")}


def stream_counts(driver):
    from selenium.webdriver.common.by import By

    counts = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "table.stream tr.issue"):
        cells = row.find_elements(By.CSS_SELECTOR, "td.num")
        counts[row.find_element(By.CSS_SELECTOR, "a.title").text.split(":")[0]] = (cells[0].text, cells[1].text)
    return counts


def bar_titles(driver):
    from selenium.webdriver.common.by import By

    return [rect.find_element(By.TAG_NAME, "title").get_attribute("textContent")
            for rect in driver.find_elements(By.CSS_SELECTOR, "svg.histogram rect")]


def test_the_time_range_picker_sets_the_counts_users_and_histograms_of_the_stream_and_the_issue_page(browser, server, history):
    from selenium.webdriver.common.by import By

    api, by_type = history
    driver = browser
    sign_in(driver, server)
    driver.get(f"{server.url}/organizations/spyglass/issues/?query=")
    assert stream_counts(driver) == {"CheckoutError": ("5", "2"), "LegacyError": ("1", "1")}

    def pick(label):
        driver.find_element(By.LINK_TEXT, label).click()
        wait_until(lambda: driver.find_element(By.CSS_SELECTOR, "#ranges a.current").text == label, what=f"the {label} range")

    pick("24h")
    assert stream_counts(driver) == {"CheckoutError": ("2", "1")}, "only what was seen in the last 24 hours"
    assert driver.find_element(By.CSS_SELECTOR, "table.stream th.graph").get_attribute("textContent") == "Last 24 hours"
    pick("7d")
    assert stream_counts(driver) == {"CheckoutError": ("5", "2")}
    pick("14d")
    assert stream_counts(driver) == {"CheckoutError": ("5", "2"), "LegacyError": ("1", "1")}
    # The range stays while searching and paging: it is in every link of the page.
    assert "statsPeriod=14d" in driver.find_element(By.LINK_TEXT, "Resolved").get_attribute("href")
    pick("1h")
    assert stream_counts(driver) == {"CheckoutError": ("2", "1")}
    screenshot(driver, "range-stream-1h.png")

    # A custom range of UTC days: the day of the three staging events.
    day = (NOW - datetime.timedelta(days=3)).strftime("%Y-%m-%d")
    form = driver.find_element(By.ID, "custom-range")
    for name in ("start", "end"):
        driver.execute_script("arguments[0].value = arguments[1]", form.find_element(By.NAME, name), day)
    form.find_element(By.TAG_NAME, "button").click()
    wait_until(lambda: "start=" + day in driver.current_url, what="the custom range")
    assert stream_counts(driver) == {"CheckoutError": ("3", "1")}

    # The issue page: counts and histogram follow the range; the axes and each bar's count on hover.
    checkout = by_type["CheckoutError"]
    page = f"{server.url}/organizations/spyglass/issues/{checkout['id']}/"
    driver.get(page)
    assert driver.find_element(By.ID, "event-count").text == "5" and driver.find_element(By.ID, "user-count").text == "2"
    assert [caption.get_attribute("textContent") for caption in driver.find_elements(By.CSS_SELECTOR, "figure.histogram figcaption")] == [
        "Last 24 hours", "Last 30 days"]
    pick("24h")
    assert driver.find_element(By.ID, "event-count").text == "2" and driver.find_element(By.ID, "user-count").text == "1"
    assert driver.find_element(By.ID, "range-note").text == "last 24 hours; all time: 5 events, 2 users"
    titles = bar_titles(driver)
    assert sum(int(title.rsplit(": ", 1)[1].split()[0]) for title in titles) == 2
    assert any(title.endswith(": 2 events") for title in titles), titles
    labels = {label.get_attribute("class").split()[-1]: label.text for label in driver.find_elements(By.CSS_SELECTOR, "text.axis-label")}
    assert labels["peak"] == "2" and labels["start"] and labels["end"] and labels["start"] != labels["end"]
    pick("7d")
    assert driver.find_element(By.ID, "event-count").text == "5"
    assert sum(int(title.rsplit(": ", 1)[1].split()[0]) for title in bar_titles(driver)) == 5
    screenshot(driver, "range-issue-7d.png")

    # First and last release, and where the events came from.
    first, last = [dd.text for dd in driver.find_elements(By.CSS_SELECTOR, "dl.seen dd")]
    assert first.endswith("in shop@1.0") and last.endswith("in shop@1.1"), (first, last)
    releases = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")][:3]
                for row in driver.find_elements(By.CSS_SELECTOR, "#release-breakdown tr")]
    assert releases == [["shop@1.0", "3 events", "60%"], ["shop@1.1", "2 events", "40%"]]
    environments = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")][:3]
                    for row in driver.find_elements(By.CSS_SELECTOR, "#environment-breakdown tr")]
    assert environments == [["staging", "3 events", "60%"], ["production", "2 events", "40%"]]
    driver.find_element(By.CSS_SELECTOR, "#environment-breakdown a").click()
    wait_until(lambda: "environment" in driver.find_element(By.NAME, "query").get_attribute("value"), what="the filtered stream")
    assert driver.find_element(By.NAME, "query").get_attribute("value").endswith("environment:staging")

    # A range the page cannot read is said, not guessed.
    driver.get(page + "?statsPeriod=2y")
    assert "statsPeriod: \"2y\" is not one of 1h, 24h, 7d, 14d, 30d, 90d." in driver.page_source
