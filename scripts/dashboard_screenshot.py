#!/usr/bin/env python3
"""Takes the README's dashboard picture: opens ROUTE's page on a running weir in headless Chromium,
waits until the route is rolled back (plus SETTLE seconds of traffic after it), and saves the
page at 1280 px wide to OUT.

usage: dashboard_screenshot.py ADMIN_URL ROUTE OUT [SETTLE]
  e.g. V2_ERROR_RATE=0.3 make run, then in another terminal:
       python3 scripts/dashboard_screenshot.py http://127.0.0.1:9901 fraud docs/dashboard-rollback.png
"""
import json
import sys
import time
import urllib.request

import headless_chromium

admin, route, out = sys.argv[1:4]
settle = float(sys.argv[4]) if len(sys.argv) > 4 else 8
driver = headless_chromium.start()
try:
    driver.get(admin + "/#/routes/" + route)
    deadline = time.time() + 600
    while time.time() < deadline:
        with urllib.request.urlopen(admin + "/v1/routes/" + route, timeout=5) as response:
            if json.load(response)["state"] == "rolled_back":
                break
        time.sleep(0.5)
    else:
        sys.exit("%s was not rolled back within 10 minutes" % route)
    time.sleep(settle)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, height + 140)
    time.sleep(1.5)
    driver.save_screenshot(out)
    print("saved", out)
finally:
    driver.quit()
