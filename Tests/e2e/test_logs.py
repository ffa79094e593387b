"""Structured logs (Sentry's `log` items) from the real sentry-sdk: stored, searchable through the API, refused
with their place when malformed."""

import datetime
import gzip
import json
import logging
import re
import time
import uuid

import pytest
import requests
import sentry_sdk

from conftest import clean_env, query
from test_hostile_input import PASSWORD, session_for
from test_issues_api import API
from test_web_ui import browser, screenshot, server, sign_in, wait_until  # noqa: F401 (fixtures)

# Log lines live in storage: both backends.
pytestmark = pytest.mark.backends


@pytest.fixture
def env(tmp_path, start_server):
    server = start_server(data_dir=tmp_path / "data")
    return server, API(server, tmp_path / "data")


def logs(api, **params):
    response = api.get("projects/spyglass/default/logs/", **params)
    assert response.status_code == 200, response.text
    return response.json()


def checkout(order_id):
    raise RuntimeError(f"card declined for order {order_id}")


def test_sentry_sdk_logs_are_stored_with_their_trace_and_attributes(env):
    server, api = env
    sentry_sdk.init(dsn=server.dsn, release="shop@1.2", environment="production", enable_logs=True)
    shop = logging.getLogger("shop.orders")
    with sentry_sdk.start_transaction(name="checkout"):
        sentry_sdk.logger.info("order {order_id} created", order_id=42, express=True, amount=12.5)
        shop.warning("stock low for %s", "apples")
        try:
            checkout(42)
        except RuntimeError:
            event_id = sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)
    # Another request's line, in another trace.
    assert post(server, envelope([line("after the request", level="debug", trace_id="ab" * 16)])).status_code == 200

    lines = logs(api)
    bodies = [line["body"] for line in lines]
    assert bodies == ["after the request", "stock low for apples", "order 42 created"], bodies  # newest first
    created = lines[2]
    assert created["level"] == "info" and created["severityNumber"] == 9
    assert created["template"] == "order {order_id} created"
    assert created["release"] == "shop@1.2" and created["environment"] == "production"
    assert created["sdk"].startswith("sentry.python ")
    attributes = created["attributes"]
    assert attributes["sentry.message.parameter.order_id"] == {"type": "integer", "value": 42}
    assert attributes["sentry.message.parameter.express"] == {"type": "boolean", "value": True}
    assert attributes["sentry.message.parameter.amount"] == {"type": "double", "value": 12.5}
    assert "sentry.release" not in attributes, "kept as a column"
    warning = lines[1]
    assert warning["level"] == "warn" and warning["attributes"]["logger.name"]["value"] == "shop.orders"

    # The error's trace holds the request's lines, not the other request's.
    event = api.get(f"projects/spyglass/default/events/{event_id}/").json()
    trace = event["contexts"]["trace"]["trace_id"]
    assert created["traceId"] == trace and warning["traceId"] == trace
    assert [line["body"] for line in logs(api, trace=trace)] == ["stock low for apples", "order 42 created"]

    # Filters: level, words, attributes (typed values read from text), release, time.
    assert [line["body"] for line in logs(api, level="warn")] == ["stock low for apples"]
    assert [line["body"] for line in logs(api, level="warn,info")] == ["stock low for apples", "order 42 created"]
    assert [line["body"] for line in logs(api, query="STOCK apples")] == ["stock low for apples"]
    assert [line["body"] for line in logs(api, query="sentry.message.parameter.order_id:42")] == ["order 42 created"]
    assert [line["body"] for line in logs(api, query="sentry.message.parameter.express:true level:info")] == ["order 42 created"]
    assert [line["body"] for line in logs(api, query='logger.name:"shop.orders"')] == ["stock low for apples"]
    assert logs(api, query="release:shop@9") == []
    assert len(logs(api, statsPeriod="1h")) == 3
    assert logs(api, end="2020-01-01T00:00:00Z") == []

    # Pages: a Link header with Sentry's cursors; a tail asks for what came after its newest line.
    first = api.get("projects/spyglass/default/logs/", limit=2)
    assert len(first.json()) == 2 and 'rel="next"; results="true"' in first.headers["Link"]
    newest = int(lines[0]["id"])
    assert logs(api, after=newest) == []
    sentry_sdk.logger.error("payment service down")
    sentry_sdk.flush(timeout=10)
    assert [line["body"] for line in logs(api, after=newest)] == ["payment service down"]


def test_bad_queries_name_the_parameter(env):
    _, api = env
    for params, message in [
        ({"level": "loud"}, "level: \"loud\""),
        ({"query": "level:loud"}, "query: level:loud"),
        ({"trace": "xyz"}, "trace: \"xyz\" is not a trace id"),
        ({"query": "release:"}, "query: release: needs a value"),
        ({"query": "x" * 5000}, "query: more than 4096 bytes"),
        ({"query": "a\u0000b:1"}, "query: a NUL character"),
        ({"statsPeriod": "2y"}, "statsPeriod: \"2y\""),
        ({"start": "yesterday"}, "start: expected"),
        ({"after": "-3"}, "after: \"-3\""),
    ]:
        response = api.get("projects/spyglass/default/logs/", **params)
        assert response.status_code == 400 and message in response.json()["detail"], (params, response.text)


def envelope(lines, header=None):
    payload = json.dumps({"items": lines}).encode()
    item = json.dumps({"type": "log", "item_count": len(lines), "content_type": "application/vnd.sentry.items.log+json",
                       "length": len(payload)}).encode()
    return json.dumps(header or {}).encode() + b"\n" + item + b"\n" + payload + b"\n"


def post(server, body):
    key = server.dsn.split("//")[1].split("@")[0]
    project = server.dsn.rstrip("/").rsplit("/", 1)[1]
    return requests.post(f"{server.url}/api/{project}/envelope/", data=gzip.compress(body), timeout=30,
                         headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7",
                                  "Content-Encoding": "gzip", "Content-Type": "application/x-sentry-envelope"})


def line(body="ok", **extra):
    return {"timestamp": time.time(), "level": "info", "body": body, **extra}


def test_bad_log_items_are_refused_naming_the_line_and_stored_lines_stay(env):
    server, api = env
    assert post(server, envelope([line("kept")])).status_code == 200
    for lines, message in [
        ([line(), {"timestamp": "soon", "level": "info", "body": "x"}], "item 1 (log): items[1].timestamp: expected"),
        ([line(level="loud")], "items[0].level: expected one of trace"),
        ([line(body=7)], "items[0].body: expected a string"),
        ([line(trace_id="not-hex")], "items[0].trace_id: expected 32 hex digits"),
        ([line(attributes={"n": {"type": "integer", "value": "many"}})], "items[0].attributes.n.value: expected an integer"),
        ([line(attributes={"n": {"type": "integer", "value": 2**70}})], "items[0].attributes.n.value: expected an integer"),
        ([line(attributes={"d": {"type": "double", "value": "NaN"}})], "items[0].attributes.d.value: expected a finite number"),
        ([line(attributes={"b": {"type": "boolean", "value": "yes"}})], "items[0].attributes.b.value: expected true or false"),
        ([line(attributes=[1, 2])], "items[0].attributes: expected an object"),
        ([line() for _ in range(10_001)], "10001 log lines; an envelope carries at most 10000"),
    ]:
        response = post(server, envelope(lines))
        assert response.status_code == 400 and message in response.json()["detail"], (message, response.text)
    assert [entry["body"] for entry in logs(api)] == ["kept"], "a refused envelope stores none of its lines"

    # Huge values are cut, not refused; 10 000 lines in one envelope are taken whole.
    huge = line("b" * 100_000, attributes={"s": {"type": "string", "value": "v" * 100_000},
                                            **{f"a{n}": {"type": "integer", "value": n} for n in range(300)}})
    assert post(server, envelope([huge])).status_code == 200
    stored = logs(api)[0]
    assert len(stored["body"]) == 8192 and len(stored["attributes"]["s"]["value"]) == 4096
    assert len(stored["attributes"]) == 100
    # A NUL (PostgreSQL's text holds none) becomes U+FFFD; a time ahead of the server's counts as received.
    nul = line("nul\u0000body", timestamp=253402300799, attributes={"a\u0000b": {"type": "string", "value": "x\u0000y"}})
    assert post(server, envelope([nul])).status_code == 200
    stored = logs(api, query="nul")[0]
    assert stored["body"] == "nul\ufffdbody" and stored["attributes"]["a\ufffdb"]["value"] == "x\ufffdy"
    assert abs(datetime.datetime.fromisoformat(stored["timestamp"].replace("Z", "+00:00")).timestamp() - time.time()) < 120
    assert [entry["body"] for entry in logs(api, query="a\ufffdb:x\ufffdy")] == ["nul\ufffdbody"]
    many = [line(f"line {n}") for n in range(10_000)]
    assert post(server, envelope(many)).status_code == 200
    assert len(logs(api, query="line", limit=100)) == 100
    assert server.proc.poll() is None


def test_prometheus_counts_stored_events_and_log_lines_per_project_and_level(env):
    server, _ = env
    project = server.dsn.rstrip("/").rsplit("/", 1)[1]

    def event(level, event_id=None):
        event_id = event_id or uuid.uuid4().hex
        payload = json.dumps({"event_id": event_id, "message": "m", "level": level}).encode()
        return json.dumps({"event_id": event_id}).encode() + b"\n" + json.dumps({"type": "event"}).encode() + b"\n" + payload + b"\n"

    twice = event("warning")
    for body in [event("error"), event("fatal"), twice, twice, event("<script>x</script>"), event("warn")]:
        assert post(server, body).status_code == 200
    assert post(server, envelope([line(level="info"), line(level="info"), line(level="error"), line(level="trace")])).status_code == 200
    assert post(server, envelope([line(level="info"), {"timestamp": "bad", "level": "info", "body": "x"}])).status_code == 400
    metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    counts = {match[0]: int(float(match[1])) for match in re.findall(
        r'^(spyglass_project_(?:events|log_lines)_total\{[^}]*\}) (\S+)$', metrics, re.MULTILINE)}
    # A duplicate is not counted again; a level outside Sentry's is an error's; a refused envelope counts nothing.
    assert counts == {
        f'spyglass_project_events_total{{project="{project}",level="error"}}': 2,
        f'spyglass_project_events_total{{project="{project}",level="fatal"}}': 1,
        f'spyglass_project_events_total{{project="{project}",level="warning"}}': 2,
        f'spyglass_project_log_lines_total{{project="{project}",level="info"}}': 2,
        f'spyglass_project_log_lines_total{{project="{project}",level="error"}}': 1,
        f'spyglass_project_log_lines_total{{project="{project}",level="trace"}}': 1,
    }, counts


def eventually(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_retention_deletes_old_lines_by_the_servers_days_and_a_projects_own_days_and_size(tmp_path, start_server):
    data = tmp_path / "data"
    server = start_server(data_dir=data, args=["--log-retention-days", "3", "--retention-interval", "0.3"],
                          env=clean_env(SPYGLASS_ADMIN_PASSWORD=PASSWORD))
    api = API(server, data)
    day = 86_400
    now = time.time()
    assert post(server, envelope([line("four days old", timestamp=now - 4 * day), line("two days old", timestamp=now - 2 * day),
                                  line("new")])).status_code == 200
    eventually(lambda: [entry["body"] for entry in logs(api)] == ["new", "two days old"], "the server's 3 days")

    # The project's own days (here fewer) and size, set on its settings page.
    web = session_for(server)
    settings = server.url + "/settings/spyglass/projects/default/"
    page = web.get(settings, timeout=10).text
    assert "Log lines are kept for 3 days, whatever their size." in page
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    for form, message in [({"days": "0"}, "log days: a whole number of days from 1 to 3650"),
                          ({"days": "1e3"}, "log days:"), ({"mib": "-5"}, "log size: a whole number of MiB")]:
        response = web.post(settings + "log-retention/", data={"csrf": csrf, **form}, timeout=10)
        assert response.status_code == 400 and message in response.text, (form, response.text[:300])
    response = web.post(settings + "log-retention/", data={"csrf": csrf, "days": "1", "mib": "1"}, timeout=10)
    assert response.status_code == 200 and "Log lines are kept for 1 day, at most 1 MiB of them." in response.text
    eventually(lambda: [entry["body"] for entry in logs(api)] == ["new"], "the project's 1 day")

    # 300 lines of 8 KiB bodies (about 2.4 MiB): the oldest go until the newest fit in 1 MiB.
    for batch in range(3):
        lines = [line(f"{batch:02d}-{n:03d} " + "x" * 8192, timestamp=now + batch + n / 1000) for n in range(100)]
        assert post(server, envelope(lines)).status_code == 200

    def stored_bytes():
        return query(data, "SELECT coalesce(sum(size), 0), count(*) FROM log_entry")[0]
    eventually(lambda: stored_bytes()[0] <= 1024 * 1024, "the project's 1 MiB")
    total, count = stored_bytes()
    assert 100 < count < 130 and total > 1024 * 1024 - 9000, (total, count)
    newest = logs(api, limit=1)[0]["body"]
    assert newest.startswith("02-099 "), newest[:10]
    assert server.proc.poll() is None


def test_the_logs_page_filters_tails_live_and_the_event_page_shows_its_trace(server, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sentry_sdk.init(dsn=server.dsn, release="shop@1.2", environment="production", enable_logs=True)
    with sentry_sdk.start_transaction(name="checkout"):
        sentry_sdk.logger.info("cart has {count} items", count=3)
        logging.getLogger("shop.orders").warning("stock low for <b>apples</b>")
        try:
            checkout(7)
        except RuntimeError:
            event_id = sentry_sdk.capture_exception()
        # A line within the error's millisecond counts as before it (event times are kept to the millisecond).
        time.sleep(0.01)
        sentry_sdk.logger.info("error page shown")
    sentry_sdk.flush(timeout=10)
    assert post(server, envelope([line("another request", trace_id="ab" * 16)])).status_code == 200
    # An attribute whose name and value need quoting in the query its link writes.
    # And one named like a column filter: its link finds the attribute, not lines of a release "from-attribute".
    tricky = {"file path": {"type": "string", "value": 'say "hi" to C:\\temp\\x'},
              "release": {"type": "string", "value": "from-attribute"}}
    assert post(server, envelope([line("tricky attribute", attributes=tricky)])).status_code == 200
    api = API(server, tmp_path / "data")
    issue = api.issues()[0]["id"]

    driver = browser
    sign_in(driver, server)
    # The event page: the trace's lines in order, those after the error marked, a link to the Logs page.
    driver.get(f"{server.url}/organizations/spyglass/issues/{issue}/events/{event_id}/")
    section = wait_until(lambda: driver.find_element(By.ID, "trace-logs"), what="the trace's logs")
    bodies = [cell.text for cell in section.find_elements(By.CSS_SELECTOR, "td.log-body .body")]
    assert bodies == ["cart has 3 items", "stock low for <b>apples</b>", "error page shown"], bodies
    assert "(after the error)" in section.find_elements(By.CSS_SELECTOR, "tr.log-line")[2].text
    assert not section.find_elements(By.TAG_NAME, "b"), "log bodies are escaped"
    screenshot(driver, "logs-event-page.png")
    section.find_element(By.PARTIAL_LINK_TEXT, "on the Logs page").click()

    # The Logs page, filtered to the trace: the other request's line is not there.
    wait_until(lambda: "trace=" in driver.current_url and driver.find_elements(By.CSS_SELECTOR, "#log-lines tr.log-line"))
    shown = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#log-lines td.log-body .body")]
    assert shown == ["error page shown", "stock low for <b>apples</b>", "cart has 3 items"], shown
    driver.find_element(By.PARTIAL_LINK_TEXT, "all lines").click()
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#log-lines tr.log-line")) == 5, what="all five lines")

    # Level and words.
    Select(driver.find_element(By.NAME, "level")).select_by_value("warn")
    driver.find_element(By.CSS_SELECTOR, ".log-filters button").click()
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#log-lines tr.log-line")) == 1, what="the warning only")
    assert "stock low" in driver.find_element(By.ID, "log-lines").text
    search = driver.find_element(By.NAME, "query")
    search.clear()
    search.send_keys("level:loud")
    driver.find_element(By.CSS_SELECTOR, ".log-filters button").click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "p.error"), what="the query's error")
    assert "level:loud is not one of" in driver.find_element(By.CSS_SELECTOR, "p.error").text

    # An attribute filter from a line's attribute; then the live tail adds new lines at the top.
    driver.get(f"{server.url}/organizations/spyglass/logs/")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#log-lines tr.log-line"))
    link = next(a for a in driver.find_elements(By.CSS_SELECTOR, "a.attribute") if "sentry.message.parameter.count" in a.text)
    link.click()
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#log-lines tr.log-line")) == 1, what="the line with count=3")
    driver.get(f"{server.url}/organizations/spyglass/logs/")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#log-lines tr.log-line"))
    next(a for a in driver.find_elements(By.CSS_SELECTOR, "a.attribute") if "file path" in a.text).click()
    wait_until(lambda: [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#log-lines td.log-body .body")]
               == ["tricky attribute"], what="the line with the quoted attribute")
    driver.get(f"{server.url}/organizations/spyglass/logs/")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#log-lines tr.log-line"))
    next(a for a in driver.find_elements(By.CSS_SELECTOR, "a.attribute")
         if a.find_element(By.CSS_SELECTOR, ".name").text == "release").click()
    wait_until(lambda: [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#log-lines td.log-body .body")]
               == ["tricky attribute"], what="the line with the attribute named release")
    driver.get(f"{server.url}/organizations/spyglass/logs/")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#log-lines tr.log-line"))
    driver.find_element(By.ID, "log-live").click()
    assert post(server, envelope([line("arrived live <script>")])).status_code == 200
    wait_until(lambda: "arrived live <script>" in driver.find_element(By.CSS_SELECTOR, "#log-lines tr.log-line").text,
               what="the new line at the top")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#log-lines tr.log-line")) == 6
    screenshot(driver, "logs-page.png")

    # A burst of 1 100 lines: the tail polls again at once while polls come back full (100 lines each), so the
    # newest arrives within the wait below (at one poll every 2 s it would take 22 s), and the table keeps the
    # newest 1 000 rows.
    burst = [line(f"burst {n:04d}", timestamp=time.time() + n / 1e6) for n in range(1100)]
    assert post(server, envelope(burst)).status_code == 200
    wait_until(lambda: "burst 1099" in driver.find_element(By.CSS_SELECTOR, "#log-lines tr.log-line").text,
               timeout=12, what="the burst's newest line at the top")
    rows = driver.find_elements(By.CSS_SELECTOR, "#log-lines td.log-body .body")
    assert len(rows) == 1000 and rows[-1].text == "burst 0100", (len(rows), rows[-1].text)
