"""Debian's Chromium, headless, through chromedriver: the browser of the dashboard's test and of
the README picture. No network (no Selenium Manager): both paths are given."""
import os

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def start(log_console=False):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,720",
                     "--disable-gpu", "--no-first-run", "--disable-extensions", "--disable-background-networking"]:
        options.add_argument(argument)
    if log_console:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options,
                            service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")))
