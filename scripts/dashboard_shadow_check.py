#!/usr/bin/env python3
"""Opens ROUTE's dashboard page in headless Chromium and checks that the shadow panel and the LLM
table show what the admin API says; prints what it saw, exits 1 on a mismatch.

usage: dashboard_shadow_check.py ADMIN_URL ROUTE [llm]
"""
import json
import sys
import time
import urllib.request

import headless_chromium
from selenium.webdriver.common.by import By

admin, route = sys.argv[1:3]
want_llm = len(sys.argv) > 3 and sys.argv[3] == "llm"
driver = headless_chromium.start()
try:
    driver.get(admin + "/#/routes/" + route)
    deadline = time.time() + 30
    panel = None
    while time.time() < deadline:
        found = driver.find_elements(By.CSS_SELECTOR, "#llm" if want_llm else "#shadow")
        if found and found[0].text.strip():
            panel = found[0].text
            break
        time.sleep(0.3)
    if panel is None:
        sys.exit("the %s never appeared" % ("LLM table" if want_llm else "shadow panel"))
    with urllib.request.urlopen(admin + "/v1/routes/" + route, timeout=5) as response:
        api = json.load(response)
    ladders = driver.find_elements(By.CSS_SELECTOR, ".ladder")
    ladder = ladders[0].text if ladders else ""
    print(json.dumps({"panel": panel, "ladder": ladder}))
    if want_llm:
        answers = [str(v["llm"]["responses"]) for v in api["versions"].values() if v.get("llm")]
        if not answers or not all(a in panel for a in answers):
            sys.exit("LLM answers %s not in the table: %r" % (answers, panel))
    else:
        shadow = api["shadow"]
        if "agreement" not in panel or shadow["version"] not in panel or "top flips" not in panel:
            sys.exit("shadow panel incomplete: %r" % panel)
        if "shadow" not in ladder.split("\n")[0]:
            sys.exit("the ladder does not name the shadow step: %r" % ladder)
finally:
    driver.quit()
