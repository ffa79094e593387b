"""Dark mode in headless Chromium: the system's preference (emulated `prefers-color-scheme`) is followed, a theme
button overrides it and is kept for the user (not the browser), and every text on the main pages meets WCAG AA
contrast (4.5:1, 3:1 for large text) in both themes. Screenshots of each page in each theme at 1400 and 1024 px."""

import pytest
import sentry_sdk

from test_issues_api import API
from test_web_ui import PASSWORD, browser, screenshot, server, sign_in, wait_until  # noqa: F401 (fixtures)

# The theme is kept with the user in storage: both backends.
pytestmark = pytest.mark.backends

# Every element with text of its own: its color against the background it is drawn on (ancestors' backgrounds
# composited where they are translucent), and whether the text is large (24 px, or 18.67 px bold).
CONTRAST = """
function parse(color) {
  const m = color.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return null;
  const p = m[1].split(",").map(x => parseFloat(x));
  return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
}
function over(top, bottom) {
  const a = top.a + bottom.a * (1 - top.a);
  if (a === 0) return {r: 0, g: 0, b: 0, a: 0};
  const mix = k => (top[k] * top.a + bottom[k] * bottom.a * (1 - top.a)) / a;
  return {r: mix("r"), g: mix("g"), b: mix("b"), a: a};
}
function background(element) {
  let color = {r: 0, g: 0, b: 0, a: 0};
  const layers = [];
  for (let e = element; e; e = e.parentElement) layers.push(parse(getComputedStyle(e).backgroundColor));
  layers.push({r: 255, g: 255, b: 255, a: 1});  // the canvas
  let result = layers.pop();
  while (layers.length) { const layer = layers.pop(); if (layer) result = over(layer, result); }
  return result;
}
function luminance(c) {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
}
const failures = [];
let checked = 0;
for (const element of document.querySelectorAll("body *")) {
  if (["SCRIPT", "STYLE", "OPTION", "SELECT", "svg", "title", "rect", "polyline"].includes(element.tagName)) continue;
  const own = Array.from(element.childNodes).filter(n => n.nodeType === 3 && n.textContent.trim()).length > 0;
  if (!own || element.offsetParent === null) continue;
  const style = getComputedStyle(element);
  if (style.visibility === "hidden" || parseFloat(style.opacity) === 0) continue;
  const bg = background(element);
  const fg = over(parse(style.color), bg);
  const l1 = luminance(fg), l2 = luminance(bg);
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
  const needed = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
  checked++;
  if (ratio < needed) failures.push(`${element.tagName}.${element.className} "${element.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)} < ${needed} (${style.color} on rgb(${Math.round(bg.r)},${Math.round(bg.g)},${Math.round(bg.b)}))`);
}
return [checked, failures];
"""


def scheme(driver, value):
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": value}]})


def page_background(driver):
    return driver.execute_script("return getComputedStyle(document.body).backgroundColor")


def is_dark(driver):
    red, green, blue = [int(x) for x in page_background(driver)[4:-1].split(",")[:3]]
    return (red + green + blue) / 3 < 80


@pytest.fixture
def pages(server, tmp_path):
    sentry_sdk.init(dsn=server.dsn, release="shop@1.0.0")
    sentry_sdk.add_breadcrumb(category="cart", message="added an item", level="error")
    try:
        {}["order_17"]
    except KeyError:
        sentry_sdk.capture_exception()
    sentry_sdk.capture_message("disk almost full", level="warning")
    sentry_sdk.flush()
    api = API(server, tmp_path / "data")
    wait_until(lambda: len(api.issues("")) == 2, what="two issues")
    issues = api.issues("")
    return {
        "stream": "/organizations/spyglass/issues/",
        "issue": f"/organizations/spyglass/issues/{issues[0]['id']}/",
        "issue-2": f"/organizations/spyglass/issues/{issues[1]['id']}/",
        "releases": "/organizations/spyglass/releases/",
        "release": "/organizations/spyglass/releases/shop@1.0.0/",
        "alerts": "/settings/spyglass/projects/default/alerts/",
        "alert-rule": "/settings/spyglass/projects/default/alerts/new/",
        "settings": "/settings/spyglass/projects/default/",
        "account": "/settings/account/",
        "admin": "/settings/spyglass/",
    }


def test_the_system_theme_is_followed_and_every_text_meets_aa_contrast_in_both(browser, server, pages):
    driver = browser
    for theme in ("light", "dark"):  # the login page, before signing in
        scheme(driver, theme)
        driver.get(server.url + "/login")
        assert is_dark(driver) == (theme == "dark")
        checked, failures = driver.execute_script(CONTRAST)
        assert checked > 3 and failures == [], ("login", theme, failures)
        screenshot(driver, f"theme-login-{theme}.png")
    sign_in(driver, server)
    for theme in ("light", "dark"):
        scheme(driver, theme)
        for width in (1400, 1024):
            driver.set_window_size(width, 1000)
            for name, path in pages.items():
                driver.get(server.url + path)
                assert is_dark(driver) == (theme == "dark"), (name, theme, page_background(driver))
                checked, failures = driver.execute_script(CONTRAST)
                assert checked > 10 and failures == [], (name, theme, width, failures)
                screenshot(driver, f"theme-{name}-{theme}-{width}.png")


def test_the_theme_button_overrides_the_system_and_is_kept_for_the_user(browser, server, pages, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser
    scheme(driver, "light")
    sign_in(driver, server)
    driver.get(server.url + pages["stream"])
    assert not is_dark(driver)
    toggle = driver.find_element(By.ID, "theme-toggle")
    assert toggle.text == "Theme: system"
    toggle.click()  # system → dark
    wait_until(lambda: driver.find_element(By.ID, "theme-toggle").text == "Theme: dark", what="the dark theme")
    assert is_dark(driver) and driver.current_url.endswith(pages["stream"])

    # Kept with the user: a new browser session of the same user gets it; another user does not.
    driver.delete_all_cookies()
    sign_in(driver, server)
    assert is_dark(driver)
    from conftest import run_cli
    run_cli("user", "create", "--email", "carol@example.com", "--password", PASSWORD, "--admin", data_dir=tmp_path / "data")
    driver.delete_all_cookies()
    sign_in(driver, server, email="carol@example.com")
    assert not is_dark(driver)

    # Light wins over a dark system, and "system" follows it again.
    driver.delete_all_cookies()
    sign_in(driver, server)
    scheme(driver, "dark")
    driver.find_element(By.ID, "theme-toggle").click()  # dark → light
    wait_until(lambda: driver.find_element(By.ID, "theme-toggle").text == "Theme: light", what="the light theme")
    assert not is_dark(driver)
    driver.find_element(By.ID, "theme-toggle").click()  # light → system (dark here)
    wait_until(lambda: driver.find_element(By.ID, "theme-toggle").text == "Theme: system", what="the system theme")
    assert is_dark(driver)
