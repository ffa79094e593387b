"""The issue search as a team lead uses it, in headless Chromium against real sentry-sdk traffic: Sentry's syntax
(OR, parentheses, `!key:value`, `has:`, `user.email:`, `age:`, wildcards, lists), every query the language does
not understand shown as an error naming the token (never an empty result), tag values on the issue page as links
that filter the stream, saved and pinned searches, and the query box's suggestions."""

import time
from urllib.parse import parse_qs, quote, urlparse

import pytest
import requests
import sentry_sdk

from test_issues_api import API
from test_web_ui import PASSWORD, browser, screenshot, server, sign_in, wait_until  # noqa: F401 (fixtures)

# Search is a query on the stores: both backends.
pytestmark = pytest.mark.backends


def send_traffic(dsn):
    """Three issues: a checkout error of bob's in 1.0.0, a disk warning in 1.1.0 (staging), a key error in 1.1.0."""
    def checkout():
        return 1 / 0

    sentry_sdk.init(dsn=dsn, release="shop@1.0.0", environment="production")
    sentry_sdk.set_user({"id": "42", "email": "bob@example.com", "username": "bob"})
    sentry_sdk.set_tag("region", "us")
    try:
        checkout()
    except ZeroDivisionError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()

    sentry_sdk.init(dsn=dsn, release="shop@1.1.0", environment="staging")
    sentry_sdk.set_user(None)
    sentry_sdk.set_tag("region", "eu west")
    sentry_sdk.capture_message("disk almost full", level="warning")
    try:
        {}["order_17"]
    except KeyError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()


@pytest.fixture
def traffic(server, tmp_path):
    send_traffic(server.dsn)
    api = API(server, tmp_path / "data")
    deadline = time.monotonic() + 15
    while len(api.issues("")) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    issues = {issue["metadata"].get("type") or issue["title"]: issue for issue in api.issues("")}
    assert set(issues) == {"ZeroDivisionError", "disk almost full", "KeyError"}, issues
    ignored = api.put(f"issues/{issues['KeyError']['id']}/", {"status": "ignored"})
    assert ignored.status_code == 200, ignored.text
    return api, issues


def titles(driver):
    from selenium.webdriver.common.by import By

    return sorted(link.text for link in driver.find_elements(By.CSS_SELECTOR, "table.stream tr.issue a.title"))


def search(driver, server, query):
    driver.get(f"{server.url}/organizations/spyglass/issues/?query={quote(query)}")
    return titles(driver)


def test_sentry_search_syntax_finds_the_right_issues_and_bad_queries_say_why(browser, server, traffic):
    from selenium.webdriver.common.by import By

    api, issues = traffic
    driver = browser
    sign_in(driver, server)
    checkout, disk, key = "ZeroDivisionError: division by zero", "disk almost full", "KeyError: 'order_17'"

    assert search(driver, server, "is:unresolved OR is:ignored") == sorted([checkout, disk, key])
    assert driver.find_element(By.CSS_SELECTOR, "nav.pages .range").text == "1–3 of 3"
    assert search(driver, server, "is:unresolved") == sorted([checkout, disk])
    assert search(driver, server, '!region:"eu west"') == [checkout]
    assert search(driver, server, "has:user") == [checkout]
    assert search(driver, server, "!has:user") == sorted([disk, key])
    assert search(driver, server, "user.email:bob@example.com") == [checkout], "the user is counted by id, found by e-mail"
    assert search(driver, server, "user.username:bob user.id:42") == [checkout]
    assert search(driver, server, "age:-24h") == sorted([checkout, disk, key])
    assert search(driver, server, "release:shop@1.1.*") == sorted([disk, key])
    assert driver.find_element(By.CSS_SELECTOR, "nav.pages .range").text == "1–2 of 2"
    assert search(driver, server, "release:[shop@1.0.0, shop@9]") == [checkout]
    assert search(driver, server, "(level:warning OR level:error) !release:shop@1.0.0") == sorted([disk, key])
    assert search(driver, server, "level:error AND (division OR order_17)") == sorted([checkout, key])
    # A valid query that matches nothing says so; no error.
    assert search(driver, server, "age:+24h") == []
    assert "No issues match" in driver.find_element(By.CSS_SELECTOR, "table.stream").text
    assert not driver.find_elements(By.CSS_SELECTOR, "p.error")
    screenshot(driver, "search-empty.png")

    for query, named in [
        ("is:sleeping", '"is:sleeping"'), ("level:error)", '")" closes'), ("age:yesterday", '"age:yesterday"'),
        ("!timeout", '"!timeout"'), ("user.phone:1", '"user.phone:1"'), ("is:unresolved OR", '"OR" at the end'),
    ]:
        assert search(driver, server, query) == []
        error = driver.find_element(By.CSS_SELECTOR, "p.error[role=alert]").text
        assert named in error, (query, error)
        # Only the error: no stream that could read as "nothing matched".
        assert "No issues match" not in driver.page_source and not driver.find_elements(By.CSS_SELECTOR, "table.stream"), query
    screenshot(driver, "search-error.png")
    # The API says the same, as a 400.
    response = api.get("projects/spyglass/default/issues/", query="is:sleeping")
    assert response.status_code == 400 and "is:sleeping" in response.json()["detail"]


def test_tag_values_on_the_issue_page_filter_the_stream(browser, server, traffic):
    from selenium.webdriver.common.by import By

    _, issues = traffic
    driver = browser
    sign_in(driver, server)
    driver.get(f"{server.url}/organizations/spyglass/issues/{issues['ZeroDivisionError']['id']}/")
    links = {link.text: link.get_attribute("href") for link in driver.find_elements(By.CSS_SELECTOR, ".tag-value a")}
    for value, term in [("us", "region:us"), ("shop@1.0.0", "release:shop@1.0.0"), ("production", "environment:production"),
                        ("id:42", "user.id:42")]:
        assert value in links, links
        assert term in parse_qs(urlparse(links[value]).query)["query"][0]
    driver.get(links["id:42"])
    assert titles(driver) == ["ZeroDivisionError: division by zero"]

    # A value with a space is quoted in the query it links to.
    driver.get(f"{server.url}/organizations/spyglass/issues/{issues['disk almost full']['id']}/")
    region = next(link for link in driver.find_elements(By.CSS_SELECTOR, ".tag-value a") if link.text == "eu west")
    assert parse_qs(urlparse(region.get_attribute("href")).query)["query"][0] == 'is:unresolved region:"eu west"'
    region.click()
    wait_until(lambda: titles(driver) == ["disk almost full"], what="the stream filtered to region eu west")


def test_saved_searches_are_per_user_and_a_pinned_one_opens_the_stream(browser, server, traffic, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser
    sign_in(driver, server)
    project = "1"
    driver.get(f"{server.url}/organizations/spyglass/issues/?project={project}&query={quote('release:shop@1.1.*')}")
    form = driver.find_element(By.CSS_SELECTOR, "form.save-search")
    form.find_element(By.NAME, "name").send_keys("new release")
    form.find_element(By.TAG_NAME, "button").click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".saved-searches li a"), what="the saved search listed")
    saved = driver.find_element(By.CSS_SELECTOR, ".saved-searches li")
    assert saved.find_element(By.TAG_NAME, "a").text == "new release"
    saved.find_element(By.CSS_SELECTOR, "button[value=pin]").click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".saved-searches .badge-pinned"), what="pinned")
    # Without a query, the project's stream opens with the pinned search.
    driver.get(f"{server.url}/organizations/spyglass/issues/?project={project}")
    assert driver.find_element(By.ID, "search").get_attribute("value") == "release:shop@1.1.*"
    assert titles(driver) == sorted(["KeyError: 'order_17'", "disk almost full"])
    screenshot(driver, "search-saved.png")

    # Another user sees none of it.
    from conftest import run_cli
    run_cli("user", "create", "--email", "carol@example.com", "--password", PASSWORD, "--admin", data_dir=tmp_path / "data")
    other = requests.Session()
    form_page = other.get(server.url + "/login", timeout=10)
    import re
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form_page.text).group(1)
    other.post(server.url + "/login", data={"csrf": csrf, "email": "carol@example.com", "password": PASSWORD, "next": "/"}, timeout=10)
    page = other.get(f"{server.url}/organizations/spyglass/issues/?project={project}", timeout=10).text
    assert "new release" not in page and 'value="is:unresolved"' in page

    driver.find_element(By.CSS_SELECTOR, ".saved-searches button[value=delete]").click()
    wait_until(lambda: not driver.find_elements(By.CSS_SELECTOR, ".saved-searches li"), what="the search deleted")
    driver.get(f"{server.url}/organizations/spyglass/issues/?project={project}")
    assert driver.find_element(By.ID, "search").get_attribute("value") == "is:unresolved"


def test_the_query_box_suggests_keys_and_values(browser, server, traffic):
    from selenium.webdriver.common.by import By

    driver = browser
    sign_in(driver, server)
    box = driver.find_element(By.ID, "search")

    def offered(text):
        box.clear()
        box.send_keys(text)
        return [option.get_attribute("value") for option in driver.find_elements(By.CSS_SELECTOR, "#search-suggestions option")]

    assert "level:error region:" in offered("level:error reg")
    assert "is:unresolved release:shop@1.1.0" in offered("is:unresolved release:shop@1.1")
    assert "!region:us" in offered("!region:u")
    assert 'region:"eu west"' in offered("region:")
    assert "user.email:" in offered("user.")


def test_pages_show_their_range_of_the_total(browser, server):
    from selenium.webdriver.common.by import By

    sentry_sdk.init(dsn=server.dsn)
    for index in range(27):
        error_type = type(f"Batch{index}Error", (Exception,), {})
        try:
            raise error_type("batch failed")
        except Exception as error:
            sentry_sdk.capture_exception(error)
    sentry_sdk.flush()
    driver = browser
    sign_in(driver, server)
    wait_until(lambda: (driver.get(f"{server.url}/organizations/spyglass/issues/?query=batch"), titles(driver))[1]
               and driver.find_element(By.CSS_SELECTOR, "nav.pages .range").text == "1–25 of 27", what="the first page of 27")
    assert len(titles(driver)) == 25
    driver.find_element(By.CSS_SELECTOR, "nav.pages a[rel=next]").click()
    wait_until(lambda: driver.find_element(By.CSS_SELECTOR, "nav.pages .range").text == "26–27 of 27", what="the second page")
    assert len(titles(driver)) == 2
