"""Drives the dashboard in headless Chromium (Debian's chromium and chromedriver, selenium
from .venv-checks): log in with the token, start a scan from the form, see its status turn
to done without a reload, open it, see its findings, visit every page, screenshot each.
Run by tests/http_dashboard.rs, which starts the daemon, its stand-in tool and the gate the
tool waits on. Must not start or stop the daemon; prints one JSON line of what it saw, and
exits non-zero naming the step that failed."""

import argparse
import json
import os
import sys

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

PAGES = [("/findings", "Findings"), ("/performance", "Performance"),
         ("/tools", "Tools"), ("/schedules", "Schedules")]


def browser(profile_dir):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={profile_dir}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class Check:
    def __init__(self, driver, shots):
        self.driver, self.shots, self.seen = driver, shots, {}

    def shot(self, name):
        path = os.path.join(self.shots, f"{name}.png")
        if not self.driver.save_screenshot(path):
            fail(f"screenshot {name}", "chromium wrote no screenshot")
        self.seen.setdefault("screenshots", []).append(path)

    def h1(self):
        return self.driver.find_element(By.TAG_NAME, "h1").text


def fail(step, why):
    print(json.dumps({"failed": step, "why": why}))
    sys.exit(1)


def wait(driver, step, cond, secs=60):
    try:
        return WebDriverWait(driver, secs, poll_frequency=0.1).until(lambda d: cond(d))
    except TimeoutException:
        fail(step, f"not within {secs} s; page {driver.current_url}:\n{driver.page_source[:4000]}")


def log_in(c, url, token):
    d = c.driver
    d.get(url + "/")
    wait(d, "redirect to the login page", lambda d: "/login" in d.current_url)
    c.shot("login")
    field = d.find_element(By.NAME, "token")
    field.send_keys(token)
    field.submit()
    wait(d, "the scans page after logging in", lambda d: d.find_elements(By.ID, "scans-live"))
    c.shot("scans-empty")


def start_scan(c, expect_running=True):
    d = c.driver
    d.find_element(By.ID, "targets").send_keys("127.0.0.1")
    d.find_element(By.ID, "profile").send_keys("dash")
    d.find_element(By.CSS_SELECTOR, "form.start button[type=submit]").click()
    wait(d, "the notice of the started scan", lambda d: "started=" in d.current_url)
    scan = d.current_url.split("started=")[1].split("&")[0]
    status = d.find_element(By.CSS_SELECTOR, f"#scan-{scan} [data-status]").text
    if expect_running and status == "done":
        fail("status before the gate opens", "the scan is done while its tool still waits")
    c.seen.setdefault("first_status", status)
    return scan


def guarded(c):
    # A forged POST (the session cookie rides along, no CSRF token) is refused; the
    # keyboard reaches the skip link first, and it leads to the main landmark.
    d = c.driver
    status = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/scans', {method: 'POST', credentials: 'same-origin',"
        " body: new URLSearchParams({targets: '127.0.0.1'})}).then(r => done(r.status));")
    if status != 403:
        fail("CSRF", f"a POST /scans without the token answered {status}")
    csp_clean(c, expected="/scans - Failed to load resource: the server responded with a status of 403")
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    first = d.switch_to.active_element
    if first.get_attribute("href") is None or not first.get_attribute("href").endswith("#main"):
        fail("keyboard", f"the first Tab stop is {first.get_attribute('outerHTML')}")
    first.send_keys(Keys.ENTER)
    if d.switch_to.active_element.get_attribute("id") != "main":
        fail("keyboard", "the skip link does not move the focus to <main>")
    c.seen["csrf_refused"] = status


def refused_outside_scope(c):
    # The same scope check as `picket scan`: a TEST-NET address is refused, on the form.
    d = c.driver
    d.find_element(By.ID, "targets").send_keys("192.0.2.1")  # refused input: out of scope
    d.find_element(By.CSS_SELECTOR, "form.start button[type=submit]").click()
    alert = wait(d, "the form's refusal", lambda d: d.find_elements(By.ID, "form-error"))
    if d.find_element(By.ID, "targets").get_attribute("value") != "192.0.2.1":  # refused input kept
        fail("the refused form", "the targets typed were lost")
    c.seen["refusal"] = alert[0].text
    c.shot("scan-refused")
    csp_clean(c, expected="/scans - Failed to load resource: the server responded with a status of 403")
    d.get(d.current_url.split("/scans")[0] + "/")


def watch_it_finish(c, scan, gate):
    d = c.driver
    # A reload would drop this value: it proves the change came without one.
    d.execute_script("window.picketNoReload = 'kept';")
    url_before = d.current_url
    c.shot("scans-running")
    with open(gate, "w") as f:
        f.write("open\n")
    wait(d, "status done without reloading",
         lambda d: d.find_element(By.CSS_SELECTOR, f"#scan-{scan} [data-status]").text == "done")
    if d.execute_script("return window.picketNoReload;") != "kept" or d.current_url != url_before:
        fail("no reload", "the page was reloaded to show the new status")
    c.seen["final_status"] = "done"
    c.shot("scans-done")


def open_scan(c, scan):
    d = c.driver
    d.find_element(By.CSS_SELECTOR, f"a[href='/scans/{scan}']").click()
    wait(d, "the scan page", lambda d: c.h1() == f"Scan #{scan}")
    status = d.find_element(By.CSS_SELECTOR, "#scan-status [data-status]").text
    findings = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#findings-h + table tbody td:nth-child(2)")]
    if status != "done" or not any("PICKET-FINDING" in f for f in findings):
        fail("the scan's findings", f"status {status}, findings {findings}")
    c.seen["findings"] = findings
    c.shot("scan")


def other_pages(c, url):
    d = c.driver
    for path, title in PAGES:
        d.get(url + path)
        if c.h1() != title:
            fail(f"page {path}", f"h1 is {c.h1()!r}, not {title!r}")
        c.shot(path.strip("/"))
    d.get(url + "/findings")
    if "PICKET-FINDING" not in d.find_element(By.ID, "findings-live").text:
        fail("the findings page", "the scan's finding is not listed")


def finding_and_diff(c, url, first):
    # The finding's own page, then a second scan of the same target and the diff of both.
    d = c.driver
    d.find_element(By.CSS_SELECTOR, "#findings-h + table tbody a").click()
    wait(d, "the finding page", lambda d: c.h1().startswith("Finding #"))
    if f"#{first}" not in d.find_element(By.CSS_SELECTOR, "dl.facts").text:
        fail("the finding page", "it does not name the scan that saw it")
    c.shot("finding")
    d.get(url + "/")
    second = start_scan(c, expect_running=False)
    wait(d, "the second scan done",
         lambda d: d.find_element(By.CSS_SELECTOR, f"#scan-{second} [data-status]").text == "done")
    d.find_element(By.LINK_TEXT, "Diff").click()
    wait(d, "the diff page", lambda d: c.h1() == "Diff of two scans")
    d.find_element(By.ID, "d-a").send_keys(first)
    d.find_element(By.ID, "d-b").send_keys(second)
    d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    heading = wait(d, "the diff", lambda d: [h.text for h in d.find_elements(By.TAG_NAME, "h2")
                                            if h.text.startswith("From #")])
    if heading[0] != f"From #{first} to #{second}":
        fail("the diff", f"heading {heading}")
    c.seen["diff"] = heading[0]
    c.shot("diff")


def csp_clean(c, expected=None):
    # Chromium logs a refused inline script or style as a console error naming the CSP;
    # reading the log empties it. `expected`: the one error the step itself caused.
    errors = [e["message"] for e in c.driver.get_log("browser")
              if e["level"] == "SEVERE" and "favicon" not in e["message"]
              and not (expected and expected in e["message"])]
    if errors:
        fail("console errors", "\n".join(errors))


def main():
    p = argparse.ArgumentParser()
    for arg in ["--url", "--token-file", "--gate", "--shots", "--profile-dir"]:
        p.add_argument(arg, required=True)
    a = p.parse_args()
    token = open(a.token_file).read().strip()
    driver = browser(a.profile_dir)
    try:
        c = Check(driver, a.shots)
        log_in(c, a.url, token)
        guarded(c)
        refused_outside_scope(c)
        scan = start_scan(c)
        watch_it_finish(c, scan, a.gate)
        open_scan(c, scan)
        csp_clean(c)
        finding_and_diff(c, a.url, scan)
        other_pages(c, a.url)
        csp_clean(c)
        c.seen["scan"] = int(scan)
        print(json.dumps(c.seen))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
