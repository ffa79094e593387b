"""The web UI in a real headless Chromium (selenium), against the real server with events from the real sentry-sdk.

Screenshots of the stream and the issue page are saved in $SPYGLASS_ARTIFACTS (default: test-artifacts/).
Without Chromium the browser tests are skipped with a message, except under CI=true, where that fails the run.
"""

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import requests
import sentry_sdk

from conftest import clean_env, query, run_cli

# The pages read and change data through the storage ports: both backends.
pytestmark = pytest.mark.backends

PASSWORD = "correct-horse-9"
ARTIFACTS = Path(os.environ.get("SPYGLASS_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts")


def find_browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return chromium, driver


@pytest.fixture
def browser():
    chromium, driver = find_browser()
    if not (chromium and driver):
        message = "web UI browser tests need chromium and chromedriver (apt install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + ": missing on CI")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--disable-gpu"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def server(tmp_path, start_server):
    return start_server(data_dir=tmp_path / "data", env=clean_env(SPYGLASS_ADMIN_PASSWORD=PASSWORD))


def wait_until(predicate, timeout=15.0, what="condition"):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (NoSuchElementException, StaleElementReferenceException):  # the page is being replaced
            value = None
        except WebDriverException as error:
            # Chromium's form of a stale element when the node went away between finding and reading it.
            if "does not belong to the document" not in str(error):
                raise
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def login(driver, server, email="admin@example.com", password=PASSWORD):
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.NAME, "email")
    field.clear()
    field.send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def sign_in(driver, server, email="admin@example.com", password=PASSWORD):
    """Logs in through the form and waits for the stream it leads to."""
    driver.get(server.url + "/login")
    login(driver, server, email=email, password=password)
    wait_until(lambda: "/organizations/" in driver.current_url, what="the stream after logging in")


def checkout(cart):
    total = sum(cart.values())
    raise ValueError(f"payment declined for {total} items")


def send_checkout_error(dsn):
    sentry_sdk.init(dsn=dsn, release="shop@1.0.0")
    sentry_sdk.add_breadcrumb(category="cart", message="added 3 apples to the cart", level="info")
    try:
        checkout({"apples": 3})
    except ValueError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()


def screenshot(driver, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def test_log_in_open_an_issue_read_its_stack_and_breadcrumbs_and_resolve_it(tmp_path, server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    send_checkout_error(server.dsn)
    driver = browser
    # Logged out: any page shows the login form, and comes back after login.
    driver.get(server.url + "/organizations/spyglass/issues/")
    assert "/login" in driver.current_url
    login(driver, server, password="wrong-password-1")
    wait_until(lambda: "Wrong e-mail address or password" in driver.find_element(By.CSS_SELECTOR, ".error").text, what="the login error")
    login(driver, server)
    wait_until(lambda: "/organizations/spyglass/issues/" in driver.current_url, what="the stream after login")
    cookie = driver.get_cookie("spyglass_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"

    title = driver.find_element(By.CSS_SELECTOR, "table.stream a.title")
    assert "ValueError: payment declined for 3 items" in title.text
    row = driver.find_element(By.CSS_SELECTOR, "table.stream tr.issue")
    assert "DEFAULT-1" in row.text and "new" in row.text.lower()
    assert driver.find_element(By.CSS_SELECTOR, "table.stream svg.sparkline polyline").get_attribute("points")
    screenshot(driver, "issue-stream.png")

    # Live: a new event shows "1 new events — refresh" without reloading (polled every 10 s).
    send_checkout_error(server.dsn)
    live = driver.find_element(By.ID, "live")
    wait_until(live.is_displayed, timeout=25, what="the new-events notice")
    assert driver.find_element(By.ID, "live-count").text == "1"

    # Keyboard: j focuses the first issue, enter opens it (r, i and / in the keyboard test).
    driver.find_element(By.TAG_NAME, "body").send_keys("j")
    assert "focused" in driver.find_element(By.CSS_SELECTOR, "table.stream tr.issue").get_attribute("class")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ENTER)
    wait_until(lambda: re.search(r"/issues/\d+/$", driver.current_url), what="the issue page")

    assert "payment declined for 3 items" in driver.find_element(By.CSS_SELECTOR, ".exc-value").text
    assert driver.find_element(By.CSS_SELECTOR, ".exc-type").text == "ValueError"
    in_app = driver.find_elements(By.CSS_SELECTOR, ".frame.in-app details[open] .function")
    assert [f.text for f in in_app][:2] == ["checkout", "send_checkout_error"], [f.text for f in in_app]
    current_line = driver.find_element(By.CSS_SELECTOR, ".frame.in-app tr.current pre").text
    assert 'raise ValueError(f"payment declined for {total} items")' in current_line
    crumbs = [c.text for c in driver.find_elements(By.CSS_SELECTOR, ".breadcrumbs td.crumb-message")]
    assert "added 3 apples to the cart" in crumbs
    assert driver.find_element(By.ID, "event-count").text == "2"
    screenshot(driver, "issue-page.png")

    # Older/newer: the latest event links to the older one.
    driver.find_element(By.CSS_SELECTOR, ".event-nav a[rel=prev]").click()
    wait_until(lambda: "/events/" in driver.current_url and driver.find_element(By.CSS_SELECTOR, ".event-nav a[rel=next]"), what="the older event")

    driver.find_element(By.CSS_SELECTOR, "button[value=resolve]").click()
    wait_until(lambda: driver.find_element(By.ID, "status").text.lower() == "resolved", what="the Resolved status")
    assert query(tmp_path / "data", "SELECT status FROM issue") == [("resolved",)]
    wait_until(lambda: "resolved it" in driver.find_element(By.CSS_SELECTOR, "ol.timeline").text, what="the activity entry")
    # No script error and no Content-Security-Policy violation on any page (the wrong password's 401 aside).
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]
    assert not errors, errors


XSS = {
    "value": "<script>window.__xss='exception'</script>",
    "tag": '"><img src=x onerror="window.__xss=\'tag\'">',
    "crumb": "<img src=x onerror=\"window.__xss='breadcrumb'\">",
    "email": "<svg onload=\"window.__xss='user'\">@example.com",
    "url": "javascript:window.__xss='url'",
}


def test_event_data_is_shown_literally_and_never_runs(tmp_path, server, browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    sentry_sdk.init(dsn=server.dsn)
    sentry_sdk.set_tag("cart", XSS["tag"])
    sentry_sdk.set_user({"id": "7", "email": XSS["email"], "username": "<b>bold</b>"})
    sentry_sdk.add_breadcrumb(category="<i>ui</i>", message=XSS["crumb"], data={"html": "<script>alert(1)</script>"})

    def add_request(event, hint):
        event["request"] = {"url": XSS["url"], "method": "GET", "headers": {"Referer": XSS["url"]}}
        return event

    with sentry_sdk.new_scope() as scope:
        scope.add_event_processor(add_request)
        try:
            raise RuntimeError(XSS["value"])
        except RuntimeError:
            sentry_sdk.capture_exception()
    sentry_sdk.flush()

    driver = browser
    driver.get(server.url + "/login")
    login(driver, server)
    wait_until(lambda: "/organizations/spyglass/issues/" in driver.current_url, what="the stream")
    assert XSS["value"] in driver.find_element(By.CSS_SELECTOR, "table.stream a.title").text
    driver.find_element(By.CSS_SELECTOR, "table.stream a.title").click()
    wait_until(lambda: re.search(r"/issues/\d+/$", driver.current_url), what="the issue page")

    page = driver.find_element(By.TAG_NAME, "main").text
    for text in (XSS["value"], XSS["tag"], XSS["crumb"], XSS["email"], XSS["url"], "<b>bold</b>", "<i>ui</i>"):
        assert text in page, text
    assert driver.execute_script("return window.__xss === undefined"), driver.execute_script("return window.__xss")
    try:
        driver.switch_to.alert
        raise AssertionError("an alert opened")
    except NoAlertPresentException:
        pass
    # Nothing from the event became markup or a link.
    assert not driver.find_elements(By.CSS_SELECTOR, "main script, main img, main svg[onload], a[href^='javascript']")
    assert driver.find_elements(By.CSS_SELECTOR, ".request .url")[0].text == XSS["url"]


def session_for(server, email, password=PASSWORD):
    """A logged-in requests session (the login form's CSRF token and cookie included)."""
    http = requests.Session()
    form = http.get(server.url + "/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text).group(1)
    response = http.post(server.url + "/login", data={"csrf": csrf, "email": email, "password": password, "next": "/"}, timeout=10, allow_redirects=False)
    assert response.status_code == 303, response.text
    return http


def page_csrf(html):
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def test_members_see_only_their_projects_and_forms_need_the_csrf_token(tmp_path, server):
    data = tmp_path / "data"
    other = run_cli("project", "create", "Billing", "--json", data_dir=data).stdout
    import json

    billing_dsn = json.loads(other)["dsn"].replace("127.0.0.1:8000", server.url.removeprefix("http://"))
    send_checkout_error(server.dsn)
    sentry_sdk.init(dsn=billing_dsn)
    sentry_sdk.capture_message("invoice run failed", level="error")
    sentry_sdk.flush()
    issues = dict(query(data, "SELECT project.slug, issue.id FROM issue JOIN project ON project.id = issue.project_id"))
    assert set(issues) == {"default", "billing"}

    run_cli("user", "create", "--email", "dev@example.com", "--password", PASSWORD, data_dir=data)
    run_cli("project", "add-member", "default", "dev@example.com", data_dir=data)
    dev = session_for(server, "dev@example.com")
    stream = dev.get(server.url + "/organizations/spyglass/issues/?query=", timeout=10)
    assert stream.status_code == 200
    assert "payment declined" in stream.text and "invoice run failed" not in stream.text
    assert dev.get(f"{server.url}/organizations/spyglass/issues/{issues['default']}/", timeout=10).status_code == 200
    hidden = dev.get(f"{server.url}/organizations/spyglass/issues/{issues['billing']}/", timeout=10)
    assert hidden.status_code == 404 and "invoice run failed" not in hidden.text
    assert dev.get(f"{server.url}/organizations/spyglass/issues/?project=billing", timeout=10).status_code == 404

    admin = session_for(server, "admin@example.com")
    page = admin.get(f"{server.url}/organizations/spyglass/issues/{issues['billing']}/", timeout=10)
    assert page.status_code == 200 and "invoice run failed" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"] and "unsafe-inline" not in page.headers["Content-Security-Policy"]

    # A state-changing form without (or with a wrong) CSRF token changes nothing.
    url = f"{server.url}/organizations/spyglass/issues/{issues['billing']}/status/"
    for token in (None, "0" * 64):
        body = {"action": "resolve"} | ({"csrf": token} if token else {})
        assert admin.post(url, data=body, timeout=10, allow_redirects=False).status_code == 403
    assert query(data, "SELECT status FROM issue WHERE id = ?", issues["billing"]) == [("unresolved",)]
    assert admin.post(url, data={"action": "resolve", "csrf": page_csrf(page.text)}, timeout=10, allow_redirects=False).status_code == 303
    assert query(data, "SELECT status FROM issue WHERE id = ?", issues["billing"]) == [("resolved",)]
    # A member cannot change another project's issue either.
    dev_page = dev.get(f"{server.url}/organizations/spyglass/issues/{issues['default']}/", timeout=10)
    assert dev.post(url, data={"action": "unresolve", "csrf": page_csrf(dev_page.text)}, timeout=10, allow_redirects=False).status_code == 404

    # Logged out: redirected to the login form, the session no longer works.
    assert dev.post(server.url + "/logout", data={"csrf": page_csrf(dev_page.text)}, timeout=10, allow_redirects=False).status_code == 303
    again = dev.get(f"{server.url}/organizations/spyglass/issues/", timeout=10, allow_redirects=False)
    assert again.status_code == 303 and again.headers["Location"].startswith("/login")


def test_logins_are_throttled_per_account_and_per_address(server):
    http = requests.Session()
    for attempt in range(5):
        form = http.get(server.url + "/login", timeout=10)
        response = http.post(server.url + "/login", data={"csrf": page_csrf(form.text), "email": "admin@example.com", "password": f"wrong-{attempt}"}, timeout=10)
        assert response.status_code == 401
    form = http.get(server.url + "/login", timeout=10)
    blocked = http.post(server.url + "/login", data={"csrf": page_csrf(form.text), "email": "admin@example.com", "password": PASSWORD}, timeout=10)
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    assert 0 < int(blocked.headers["Retry-After"]) <= 60
    # The real user elsewhere is not locked out (a unit test varies the address); from this address other
    # accounts may still be tried, until the address itself has failed 20 times within the minute.
    def attempt(email):
        form = http.get(server.url + "/login", timeout=10)
        return http.post(server.url + "/login", data={"csrf": page_csrf(form.text), "email": email, "password": "wrong"}, timeout=10)

    assert [attempt(f"user{index}@example.com").status_code for index in range(15)] == [401] * 15
    other = attempt("someone@example.com")
    assert other.status_code == 429 and "Too many failed logins" in other.text
    # A login form posted without its cookie (cross-site) is refused.
    assert requests.post(server.url + "/login", data={"csrf": "0" * 64, "email": "admin@example.com", "password": PASSWORD}, timeout=10).status_code == 403


def test_bulk_actions_merge_and_ignore_from_the_stream(tmp_path, server):
    sentry_sdk.init(dsn=server.dsn)
    for message in ("disk full on /var", "disk full on /srv", "cache miss storm"):
        sentry_sdk.capture_message(message, level="error")
    sentry_sdk.flush()
    data = tmp_path / "data"
    ids = {title: issue for issue, title in query(data, "SELECT id, title FROM issue")}
    admin = session_for(server, "admin@example.com")
    stream = admin.get(server.url + "/organizations/spyglass/issues/", timeout=10)
    csrf = page_csrf(stream.text)
    bulk = server.url + "/organizations/spyglass/issues/bulk/"
    back = "/organizations/spyglass/issues/?query=is%3Aunresolved"
    response = admin.post(bulk, data={"csrf": csrf, "action": "merge", "id": [ids["disk full on /var"], ids["disk full on /srv"]], "return": back}, timeout=10, allow_redirects=False)
    # Back where it was made, with the confirmation line's facts (and Undo's) added to the query.
    assert response.status_code == 303 and response.headers["Location"].startswith(back + "&done=merge&parent=")
    assert query(data, "SELECT count(*) FROM issue") == [(2,)]
    response = admin.post(bulk, data={"csrf": csrf, "action": "ignore", "id": ids["cache miss storm"], "return": "//evil.example/"}, timeout=10, allow_redirects=False)
    assert response.headers["Location"].startswith("/organizations/spyglass/issues/?done=ignore&")  # no open redirect
    assert query(data, "SELECT status FROM issue WHERE id = ?", ids["cache miss storm"]) == [("ignored",)]
    nothing = admin.post(bulk, data={"csrf": csrf, "action": "resolve", "return": back}, timeout=10)
    assert nothing.status_code == 200 and "Nothing selected: tick one or more issues first." in nothing.text
    assert admin.post(bulk, data={"csrf": csrf, "action": "undo", "undo": "1~root"}, timeout=10).status_code == 400


def test_the_generated_first_password_must_be_changed_and_tokens_are_shown_once(tmp_path, start_server):
    server = start_server(data_dir=tmp_path / "data")
    generated = server.find("admin account created; log in with this one-time password and change it")["spyglass.admin_password"]
    http = session_for(server, "admin@example.com", generated)
    # Every page asks for a new password first.
    stream = http.get(server.url + "/organizations/spyglass/issues/", timeout=10, allow_redirects=False)
    assert stream.status_code == 303 and stream.headers["Location"] == "/settings/account/"
    account = http.get(server.url + "/settings/account/", timeout=10)
    assert "generated first password" in account.text and "API tokens" not in account.text
    csrf = page_csrf(account.text)
    wrong = http.post(server.url + "/settings/account/password/", data={"csrf": csrf, "current": "nope-nope-1", "new": "a-new-secret-9", "confirm": "a-new-secret-9"}, timeout=10)
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    short = http.post(server.url + "/settings/account/password/", data={"csrf": csrf, "current": generated, "new": "short", "confirm": "short"}, timeout=10)
    assert short.status_code == 400 and "at least 8 characters" in short.text
    changed = http.post(server.url + "/settings/account/password/", data={"csrf": csrf, "current": generated, "new": "a-new-secret-9", "confirm": "a-new-secret-9"}, timeout=10)
    assert changed.status_code == 200 and "Password changed" in changed.text
    assert http.get(server.url + "/organizations/spyglass/issues/", timeout=10).status_code == 200
    assert session_for(server, "admin@example.com", "a-new-secret-9")

    # An API token is shown once, works on the API, and stops working when revoked.
    created = http.post(server.url + "/settings/account/tokens/", data={"csrf": csrf, "name": "ci <script>"}, timeout=10)
    token = re.search(r'<code id="new-token">([0-9a-f]{64})</code>', created.text).group(1)
    assert "ci &lt;script&gt;" in created.text
    api = {"Authorization": f"Bearer {token}"}
    assert requests.get(server.url + "/api/0/projects/", headers=api, timeout=10).status_code == 200
    listed = http.get(server.url + "/settings/account/", timeout=10).text
    assert token not in listed
    token_id = re.search(r'/settings/account/tokens/(\d+)/revoke/', listed).group(1)
    assert http.post(f"{server.url}/settings/account/tokens/{token_id}/revoke/", data={"csrf": csrf}, timeout=10, allow_redirects=False).status_code == 303
    assert requests.get(server.url + "/api/0/projects/", headers=api, timeout=10).status_code == 401


def test_releases_list_and_a_release_page_with_its_new_and_regressed_issues(tmp_path, server):
    def fail(release, message):
        sentry_sdk.init(dsn=server.dsn, release=release)
        sentry_sdk.capture_message(message, level="error")
        sentry_sdk.flush()

    fail("shop@1.0.0", "tax table missing")
    data = tmp_path / "data"
    [(old_issue,)] = query(data, "SELECT id FROM issue")
    admin = session_for(server, "admin@example.com")
    page = admin.get(f"{server.url}/organizations/spyglass/issues/{old_issue}/", timeout=10)
    admin.post(f"{server.url}/organizations/spyglass/issues/{old_issue}/status/", data={"csrf": page_csrf(page.text), "action": "resolve"}, timeout=10)
    fail("shop@1.1.0", "tax table missing")  # regression
    fail("shop@1.1.0", "coupon <b>expired</b>")  # new in 1.1.0

    releases = admin.get(server.url + "/organizations/spyglass/releases/", timeout=10)
    assert releases.status_code == 200
    versions = re.findall(r'class="version" href="([^"]+)">([^<]+)</a>', releases.text)
    assert [v for _, v in versions] == ["shop@1.1.0", "shop@1.0.0"], versions
    detail = admin.get(server.url + versions[0][0], timeout=10)
    assert detail.status_code == 200
    new_part, regressed_part = detail.text.split("Regressed issues", 1)
    assert "coupon &lt;b&gt;expired&lt;/b&gt;" in new_part and "tax table missing" not in new_part
    assert "tax table missing" in regressed_part and "coupon" not in regressed_part
    assert admin.get(server.url + "/organizations/spyglass/releases/shop@9.9.9/", timeout=10).status_code == 404


def test_admins_create_users_and_projects_and_manage_keys_members_and_auto_resolve(tmp_path, server):
    data = tmp_path / "data"
    admin = session_for(server, "admin@example.com")
    page = admin.get(f"{server.url}/settings/spyglass/", timeout=10)
    assert page.status_code == 200
    csrf = page_csrf(page.text)
    created = admin.post(f"{server.url}/settings/spyglass/users/", data={"csrf": csrf, "email": "Dev@Example.com"}, timeout=10)
    assert created.status_code == 200
    password = re.search(r'<code id="new-password">([^<]+)</code>', created.text).group(1)
    assert admin.post(f"{server.url}/settings/spyglass/users/", data={"csrf": csrf, "email": "dev@example.com"}, timeout=10).status_code == 409
    project = admin.post(f"{server.url}/settings/spyglass/projects/", data={"csrf": csrf, "name": "Billing"}, timeout=10, allow_redirects=False)
    assert project.status_code == 303 and project.headers["Location"] == "/settings/spyglass/projects/billing/"

    settings_url = f"{server.url}/settings/spyglass/projects/billing/"
    settings = admin.get(settings_url, timeout=10)
    [dsn] = re.findall(r'<code id="dsn-\d+" class="dsn">([^<]+)</code>', settings.text)
    assert dsn.endswith(f"@{server.url.removeprefix('http://')}/2")
    # A second key works at once; a revoked one is refused.
    added = admin.post(settings_url + "keys/", data={"csrf": csrf, "label": "backend"}, timeout=10)
    assert "Key created" in added.text
    keys = re.findall(r'<code id="dsn-(\d+)" class="dsn">([^<]+)</code>', added.text)
    assert len(keys) == 2
    new_id, new_dsn = keys[1]
    sentry_sdk.init(dsn=new_dsn)
    sentry_sdk.capture_message("from the backend key", level="error")
    sentry_sdk.flush()
    assert query(data, "SELECT count(*) FROM event WHERE project_id = 2") == [(1,)]
    limited = admin.post(settings_url + f"keys/{new_id}/", data={"csrf": csrf, "action": "rate-limit", "rate": "abc"}, timeout=10)
    assert limited.status_code == 400 and "rate limit" in limited.text
    admin.post(settings_url + f"keys/{new_id}/", data={"csrf": csrf, "action": "rate-limit", "rate": "120"}, timeout=10)
    assert query(data, "SELECT rate_limit_per_minute FROM project_key WHERE id = ?", int(new_id)) == [(120,)]
    admin.post(settings_url + f"keys/{new_id}/", data={"csrf": csrf, "action": "revoke"}, timeout=10)
    public_key = new_dsn.split("//")[1].split("@")[0]
    deadline = time.monotonic() + 10
    while True:  # the key cache picks the change up within about a second
        refused = requests.post(f"{server.url}/api/2/store/", json={"message": "x"}, headers={"X-Sentry-Auth": f"Sentry sentry_key={public_key}, sentry_version=7"}, timeout=10)
        if refused.status_code in (401, 403) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert refused.status_code in (401, 403), refused.text

    resolve = admin.post(settings_url + "resolve-age/", data={"csrf": csrf, "hours": "72"}, timeout=10)
    assert resolve.status_code == 200 and query(data, "SELECT resolve_age_hours FROM project WHERE slug = 'billing'") == [(72,)]
    assert admin.post(settings_url + "resolve-age/", data={"csrf": csrf, "hours": "-1"}, timeout=10).status_code == 400
    kept = admin.post(settings_url + "retention/", data={"csrf": csrf, "days": "14"}, timeout=10)
    assert "Events are kept for 14 days" in kept.text
    assert query(data, "SELECT retention_days FROM project WHERE slug = 'billing'") == [(14,)]
    assert admin.post(settings_url + "retention/", data={"csrf": csrf, "days": "0"}, timeout=10).status_code == 400

    # The new user: must choose a password, then sees only the projects they are a member of.
    assert admin.post(settings_url + "members/", data={"csrf": csrf, "email": "nobody@example.com"}, timeout=10).status_code == 404
    assert "Member added" in admin.post(settings_url + "members/", data={"csrf": csrf, "email": "dev@example.com", "role": "member"}, timeout=10).text
    dev = session_for(server, "dev@example.com", password)
    account = dev.get(f"{server.url}/settings/account/", timeout=10)
    dev.post(f"{server.url}/settings/account/password/", data={"csrf": page_csrf(account.text), "current": password, "new": "dev-secret-42", "confirm": "dev-secret-42"}, timeout=10)
    stream = dev.get(f"{server.url}/organizations/spyglass/issues/", timeout=10)
    assert "from the backend key" in stream.text
    # A member, not an admin of the project: no settings, no administration.
    assert dev.get(settings_url, timeout=10).status_code == 403
    assert dev.get(f"{server.url}/settings/spyglass/projects/default/", timeout=10).status_code == 404
    assert dev.get(f"{server.url}/settings/spyglass/", timeout=10).status_code == 404

    # Deactivated: logged out at once, and cannot log in.
    user_id = query(data, "SELECT id FROM user WHERE email = 'dev@example.com'")[0][0]
    admin.post(f"{server.url}/settings/spyglass/users/{user_id}/", data={"csrf": csrf, "action": "deactivate"}, timeout=10)
    gone = dev.get(f"{server.url}/organizations/spyglass/issues/", timeout=10, allow_redirects=False)
    assert gone.status_code == 303 and gone.headers["Location"].startswith("/login")


def test_alert_rules_are_created_edited_disabled_and_deleted_in_the_settings(tmp_path, server):
    data = tmp_path / "data"
    admin = session_for(server, "admin@example.com")
    rules_url = f"{server.url}/settings/spyglass/projects/default/alerts/"
    listing = admin.get(rules_url, timeout=10)
    assert "Send a notification for new and regressed issues" in listing.text
    csrf = page_csrf(listing.text)
    form = admin.get(rules_url + "new/", timeout=10)
    # A new rule starts with nothing checked that the user did not choose.
    choices = re.findall(r'<input type="checkbox" name="(?:when|if|then)"[^>]*>', form.text)
    assert form.status_code == 200 and len(choices) >= 8 and not [box for box in choices if " checked" in box], choices

    bad = admin.post(rules_url, data={"csrf": csrf, "name": "Nothing", "then": "members", "frequency": "30", "enabled": "1"}, timeout=10)
    assert bad.status_code == 400 and "conditions" in bad.text and 'value="Nothing"' in bad.text
    body = {
        "csrf": csrf, "name": "Checkout floods", "when": ["users", "regression"], "users_count": "25", "users_interval": "1h",
        "if": ["level", "tag"], "level_match": "gte", "level": "error", "tag_key": "service", "tag_value": "checkout",
        "then": ["addresses", "webhook"], "addresses": "ops@example.com, oncall@example.com",
        "webhook_url": "https://hooks.example.com/spyglass", "webhook_secret": "s3cret-s3cret", "frequency": "15", "enabled": "1",
    }
    saved = admin.post(rules_url, data=body, timeout=10, allow_redirects=False)
    assert saved.status_code == 303, saved.text
    api = run_cli("token", "create", "--user", "admin@example.com", data_dir=data).stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {api}"}
    rules = requests.get(f"{server.url}/api/0/projects/spyglass/default/rules/", headers=headers, timeout=10).json()
    rule = next(r for r in rules if r["name"] == "Checkout floods")
    assert [c["id"].rsplit(".", 1)[-1] for c in rule["conditions"]] == ["RegressionEventCondition", "EventUniqueUserFrequencyCondition"]
    assert rule["conditions"][1]["value"] == 25 and rule["conditions"][1]["interval"] == "1h"
    assert {f["id"].rsplit(".", 1)[-1] for f in rule["filters"]} == {"LevelFilter", "TaggedEventFilter"}
    assert rule["frequency"] == 15
    assert any(a.get("addresses") == ["ops@example.com", "oncall@example.com"] for a in rule["actions"])

    # Editing without a secret keeps the webhook's secret.
    edit = admin.get(f"{rules_url}{rule['id']}/", timeout=10)
    assert 'value="Checkout floods"' in edit.text and 'placeholder="unchanged if empty"' in edit.text
    body.update({"name": "Checkout floods (15 min)", "webhook_secret": ""})
    assert admin.post(f"{rules_url}{rule['id']}/", data=body, timeout=10, allow_redirects=False).status_code == 303
    stored = query(data, "SELECT name, spec FROM alert_rule WHERE id = ?", int(rule["id"]))[0]
    assert stored[0] == "Checkout floods (15 min)" and "s3cret-s3cret" in stored[1]

    toggled = admin.post(f"{rules_url}{rule['id']}/toggle/", data={"csrf": csrf}, timeout=10)
    assert "disabled" in toggled.text and query(data, "SELECT enabled FROM alert_rule WHERE id = ?", int(rule["id"])) == [(0,)]
    assert admin.post(f"{rules_url}{rule['id']}/delete/", data={"csrf": csrf}, timeout=10).status_code == 200
    assert query(data, "SELECT count(*) FROM alert_rule WHERE id = ?", int(rule["id"])) == [(0,)]


def test_attachments_download_similar_issues_and_assignment_on_the_issue_page(tmp_path, server):
    data = tmp_path / "data"
    sentry_sdk.init(dsn=server.dsn)
    with sentry_sdk.new_scope() as scope:
        scope.add_attachment(bytes=b"<html><script>alert(1)</script></html>", filename="../report <1>.html", content_type="text/html")
        try:
            raise KeyError("sku-1")
        except KeyError:
            sentry_sdk.capture_exception()
    sentry_sdk.capture_message("KeyError: 'sku-1'", level="error")  # same title, another issue
    sentry_sdk.flush()
    issues = query(data, "SELECT id, title FROM issue ORDER BY id")
    assert len(issues) == 2 and issues[0][1] == issues[1][1] == "KeyError: 'sku-1'"
    admin = session_for(server, "admin@example.com")
    page = admin.get(f"{server.url}/organizations/spyglass/issues/{issues[0][0]}/", timeout=10)
    link = re.search(r'<a href="([^"]+/attachments/\d+/)" download>([^<]+)</a>', page.text)
    assert link and link.group(2) == "../report &lt;1&gt;.html"
    download = admin.get(server.url + link.group(1), timeout=10)
    assert download.status_code == 200 and download.content == b"<html><script>alert(1)</script></html>"
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"] == 'attachment; filename=".._report__1_.html"'
    # The other issue with the same title is listed as similar.
    assert f'href="/organizations/spyglass/issues/{issues[1][0]}/"' in page.text.split("Similar issues", 1)[1]

    run_cli("user", "create", "--email", "dev@example.com", "--password", PASSWORD, data_dir=data)
    run_cli("project", "add-member", "default", "dev@example.com", data_dir=data)
    page = admin.get(f"{server.url}/organizations/spyglass/issues/{issues[0][0]}/", timeout=10)
    assigned = admin.post(f"{server.url}/organizations/spyglass/issues/{issues[0][0]}/status/", data={"csrf": page_csrf(page.text), "action": "assign", "assignee": "dev@example.com"}, timeout=10)
    assert "Assigned to dev@example.com" in assigned.text
    dev = session_for(server, "dev@example.com")
    mine = dev.get(server.url + "/organizations/spyglass/issues/", params={"query": "assigned:me"}, timeout=10)
    assert f"/issues/{issues[0][0]}/" in mine.text and f"/issues/{issues[1][0]}/" not in mine.text


def test_keyboard_resolves_and_ignores_in_the_stream(tmp_path, server, browser):
    from selenium.webdriver.common.by import By

    sentry_sdk.init(dsn=server.dsn)
    sentry_sdk.capture_message("first problem", level="error")
    time.sleep(0.01)
    sentry_sdk.capture_message("second problem", level="error")
    sentry_sdk.flush()
    data = tmp_path / "data"
    driver = browser
    driver.get(server.url + "/login")
    login(driver, server)
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "table.stream tr.issue")) == 2, what="two issues")
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("j")
    first = driver.find_element(By.CSS_SELECTOR, "table.stream tr.issue.focused a.title").text
    body.send_keys("r")
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "table.stream tr.issue")) == 1, what="the resolved issue to leave the stream")
    assert query(data, "SELECT status FROM issue WHERE title = ?", first) == [("resolved",)]
    wait_until(lambda: driver.find_element(By.TAG_NAME, "body").send_keys("j") or driver.find_elements(By.CSS_SELECTOR, "tr.issue.focused"), what="the focus on the remaining issue")
    driver.find_element(By.TAG_NAME, "body").send_keys("i")
    wait_until(lambda: not driver.find_elements(By.CSS_SELECTOR, "table.stream tr.issue"), what="the ignored issue to leave the stream")
    assert sorted(query(data, "SELECT status FROM issue")) == [("ignored",), ("resolved",)]
    driver.find_element(By.TAG_NAME, "body").send_keys("/")
    assert driver.switch_to.active_element.get_attribute("id") == "search"
