#!/usr/bin/env python3
"""Drives weir's dashboard in a real Chromium (headless, through chromedriver) and checks what an
on-call engineer relies on. Run by `make test` (DashboardBrowserTests) against a weir with three
routes: FAILING (a canary that fails, judged by the sequential judge), HEALTHY (a canary that
stays at its first step) and IDLE (no canary).

  1. the route list shows every route with its state, step ladder and weights;
  2. the failing route's page, opened before any traffic, shows the rollback marker and the
     decision's reason within 5 s of the decision (the event's own time);
  3. on the healthy route, rollback without the token is refused and the page says why (401),
     nothing moves; with the token (typed once) it is confirmed, the weights go to the stable
     and the reason appears in the audit log;
  4. the token is in no cookie and no storage; the page logs no errors (CSP violations included).

Screenshots of each page go to OUT. Exits non-zero with the failed check on stderr.

usage: dashboard_browser.py ADMIN_URL PROXY_PORT TOKEN OUT FAILING HEALTHY IDLE
"""
import http.client
import json
import os
import sys
import threading
import time
import urllib.request
from datetime import datetime

from selenium.webdriver.common.by import By

import headless_chromium

ADMIN, PROXY_PORT, TOKEN, OUT, FAILING, HEALTHY, IDLE = sys.argv[1:8]
PROXY_PORT = int(PROXY_PORT)
os.makedirs(OUT, exist_ok=True)
stop = threading.Event()


driver = None


def fail(message):
    print("FAILED: " + message, file=sys.stderr)
    if driver is not None:
        for entry in driver.get_log("browser"):
            print("browser: %s %s" % (entry["level"], entry["message"]), file=sys.stderr)
        driver.save_screenshot(os.path.join(OUT, "failed.png"))
    sys.exit(1)


def api(path):
    request = urllib.request.Request(ADMIN + path, headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def load(route):
    """About 60 requests per second on one keep-alive connection until told to stop."""
    connection = http.client.HTTPConnection("127.0.0.1", PROXY_PORT, timeout=5)
    while not stop.is_set():
        try:
            connection.request("POST", "/v2/models/%s/infer" % route, body=b'{"inputs":[]}',
                               headers={"Content-Type": "application/json"})
            connection.getresponse().read()
        except Exception:
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", PROXY_PORT, timeout=5)
        time.sleep(1 / 60)


def wait_for(what, check, limit):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            found = check()
        except Exception:
            found = None
        if found:
            return found
        time.sleep(0.1)
    fail("%s (waited %.0f s)" % (what, limit))


def text_of(driver, css):
    elements = driver.find_elements(By.CSS_SELECTOR, css)
    return elements[0].text if elements else ""


def screenshot(driver, name):
    """The 1280×720 view as a person first sees it, and the whole page."""
    driver.save_screenshot(os.path.join(OUT, name + ".png"))
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(720, height + 140))
    time.sleep(0.3)
    driver.save_screenshot(os.path.join(OUT, name + "-full.png"))
    driver.set_window_size(1280, 720)


def confirm(driver):
    """Clicks the dialog's Confirm after checking that the dialog asks."""
    wait_for("the confirmation dialog opens",
             lambda: driver.find_element(By.ID, "confirm").get_attribute("open") is not None, 5)
    driver.find_element(By.ID, "confirm-yes").click()


driver = headless_chromium.start(log_console=True)
loaders = [threading.Thread(target=load, args=(route,), daemon=True) for route in (FAILING, HEALTHY)]
try:
    # 1. Every configured route on the router page.
    driver.get(ADMIN + "/")
    names = sorted(route["name"] for route in api("/v1/routes")["routes"])
    shown = wait_for("the route list shows every route",
                     lambda: (lambda rows: rows if len(rows) == len(names) else None)(
                         sorted(r.get_attribute("data-route") for r in
                                driver.find_elements(By.CSS_SELECTOR, "#routes tbody tr"))), 10)
    if shown != names or sorted([FAILING, HEALTHY, IDLE]) != names:
        fail("routes shown %s, configured %s" % (shown, names))
    for name in names:
        row = driver.find_element(By.CSS_SELECTOR, '#routes tr[data-route="%s"]' % name)
        state = row.find_element(By.CSS_SELECTOR, ".badge").get_attribute("data-state")
        if state != api("/v1/routes/" + name)["state"]:
            fail("%s shows state %s" % (name, state))
        if "%" not in row.find_element(By.CSS_SELECTOR, ".weights").text:
            fail("%s shows no weights" % name)
    current = driver.find_element(By.CSS_SELECTOR, '#routes tr[data-route="%s"] .ladder li.current' % HEALTHY).text
    if "10%" not in current:
        fail("the healthy route's current step shows %r, not its first step (10%%)" % current)
    screenshot(driver, "1-routes")

    # 2. The failing canary, watched live: its page is open before the first request.
    driver.find_element(By.CSS_SELECTOR, '#routes tr[data-route="%s"] a' % FAILING).click()
    wait_for("the failing route's page shows its charts",
             lambda: driver.find_elements(By.CSS_SELECTOR, '[data-chart="evalue"] .threshold'), 10)
    for loader in loaders:
        loader.start()
    event = wait_for("the failing canary is rolled back",
                     lambda: next((e for e in api("/v1/routes/%s/events?limit=20" % FAILING)["events"]
                                   if e["to"] == "rolled_back"), None), 90)
    decided = datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()

    def rollback_on_page():
        markers = driver.find_elements(By.CSS_SELECTOR, '#charts .marker[data-to="rolled_back"]')
        return markers and event["reason"] in text_of(driver, "#last-decision") \
            and event["reason"] in text_of(driver, "#audit")
    wait_for("the page shows the rollback marker and its reason", rollback_on_page, 10)
    lag = time.time() - decided
    print("rollback decided %s; on the page %.2f s later: %s" % (event["at"], lag, event["reason"]))
    if lag > 5:
        fail("the rollback reached the page %.2f s after the decision (more than 5 s)" % lag)
    charts = sorted(c.get_attribute("data-chart") for c in driver.find_elements(By.CSS_SELECTOR, "[data-chart]"))
    if charts != sorted(["rps", "errors", "latency", "weight", "evalue"]):
        fail("charts shown: %s" % charts)
    if len(driver.find_elements(By.CSS_SELECTOR, '[data-chart="rps"] path.series')) != 2:
        fail("the requests chart has no line per version")
    metadata = text_of(driver, "#versions").lower()
    if "training_data_hash" not in metadata or "risk-team" not in metadata:
        fail("the versions' metadata is missing: %r" % metadata)
    time.sleep(1.5)  # a few more seconds of both lines after the marker
    screenshot(driver, "2-rolled-back")

    # 3. Operator actions on the healthy canary: refused without the token, done with it.
    driver.get(ADMIN + "/#/routes/" + HEALTHY)
    wait_for("the healthy route's page loads", lambda: driver.find_elements(By.ID, "action-rollback"), 10)
    before = api("/v1/routes/" + HEALTHY)
    if before["state"] != "progressing":
        fail("the healthy canary is %s, not progressing" % before["state"])
    # A weight that is not a number from 0 to 100 is not sent (no dialog, nothing moves).
    driver.find_element(By.ID, "weight-value").clear()
    driver.find_element(By.ID, "action-weight").click()
    if "not sent" not in text_of(driver, "#answer") or driver.find_element(By.ID, "confirm").get_attribute("open"):
        fail("an empty weight was offered for sending: %r" % text_of(driver, "#answer"))
    driver.find_element(By.ID, "rollback-reason").send_keys("dashboard test: looks wrong")
    driver.find_element(By.ID, "action-rollback").click()
    confirm(driver)
    refusal = wait_for("the page says why the rollback was refused",
                       lambda: "refused" in (driver.find_element(By.ID, "answer").get_attribute("class") or "")
                       and text_of(driver, "#answer"), 5)
    if "401" not in refusal or "unauthorized" not in refusal or "token" not in refusal:
        fail("the refusal reads %r" % refusal)
    after = api("/v1/routes/" + HEALTHY)
    if after["state"] != "progressing" or after["weights"] != before["weights"]:
        fail("a refused rollback moved the route: %s %s" % (after["state"], after["weights"]))
    screenshot(driver, "3-refused-without-token")

    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.ID, "token-use").click()
    driver.find_element(By.ID, "action-rollback").click()
    # Cancelling asks nothing of the router.
    wait_for("the dialog opens", lambda: driver.find_element(By.ID, "confirm").get_attribute("open") is not None, 5)
    driver.find_element(By.ID, "confirm-no").click()
    time.sleep(0.5)
    if api("/v1/routes/" + HEALTHY)["state"] != "progressing":
        fail("a cancelled rollback was sent")
    driver.find_element(By.ID, "action-rollback").click()
    confirm(driver)
    answer = wait_for("the router's answer to the rollback",
                      lambda: "ok" in (driver.find_element(By.ID, "answer").get_attribute("class") or "")
                      and text_of(driver, "#answer"), 5)
    route = api("/v1/routes/" + HEALTHY)
    if route["state"] != "rolled_back" or route["weights"].get(route["canary"]) != 0 \
            or route["weights"].get(route["stable"]) != 100:
        fail("after the rollback the route is %s %s" % (route["state"], route["weights"]))
    wait_for("the audit log shows the operator's rollback and its reason",
             lambda: "dashboard test: looks wrong" in text_of(driver, '#audit tr[data-to="rolled_back"]'), 5)
    wait_for("the weights on the page move", lambda: "0%" in text_of(driver, "#weights")
             and "rolled back" in text_of(driver, "#route-header .badge").lower(), 5)
    print("operator rollback: %s" % answer)
    time.sleep(1.2)
    screenshot(driver, "4-rolled-back-by-operator")

    # 4. The token stays in the page: no cookie, no storage; and the page logged no errors.
    if driver.get_cookies():
        fail("cookies set: %s" % driver.get_cookies())
    stored = driver.execute_script(
        "return JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    if TOKEN in stored or stored != "{}{}":
        fail("the browser's storage holds %r" % stored)
    errors = [entry for entry in driver.get_log("browser")
              if entry["level"] == "SEVERE" and "401" not in entry["message"]]
    if errors:
        fail("the page logged errors: %s" % errors)
    print("dashboard checks passed; screenshots in %s" % OUT)
finally:
    stop.set()
    driver.quit()
