"""The operator console in a real browser: Debian's headless Chromium driven by Selenium
through the system chromedriver.

Runs `inlet dev` on the embedded store, then on the AWS backend against moto (queues and
the state table created as template.yaml declares them), and `inlet console --backend aws`
alone. In each: load every page, search for an event, open it, replay it and see the new
delivery appear, see a new event appear in the live list without a reload, redrive a dead
letter after a confirmation and see the DLQ empty. Screenshots of each page are saved in
target/console-screenshots/ (not committed).

Usage: console_browser_test.py INLET_BINARY   (INLET_TEST_AWS_ENDPOINT set: the AWS run too)
"""

import http.server
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import boto3
import yaml
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.common.by import By

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHOTS = ROOT / "target" / "console-screenshots"
STRIPE_SECRET = "whsec_browser_test_secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Sink:
    """A downstream HTTP API: records every delivery; refuses keys in `refuse` with 400."""

    def __init__(self):
        self.got = []
        self.refuse = set()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                refused = body["key"] in sink.refuse
                if not refused:
                    sink.got.append((body["key"], body["source"]))
                self.send_response(400 if refused else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"

    def delivered(self, key, source="webhook"):
        return (key, source) in self.got


def config(sink_url):
    return f"""
[worker]
batch_size = 10
visibility_timeout_secs = 5
lease_secs = 2
max_receive = 3
backoff_base_ms = 100
backoff_max_secs = 1

[logging]
redact_fields = ["email", "customer_email"]

[[providers]]
name = "stripe"
scheme = "stripe"
secrets = ["{STRIPE_SECRET}"]

[[sinks]]
kind = "http"
url = "{sink_url}"
attempts = 1
timeout_ms = 1000
"""


def stripe_event(event_id):
    return json.dumps({
        "id": event_id, "object": "event", "type": "invoice.paid", "created": int(time.time()),
        "data": {"object": {"id": f"in_{event_id}", "object": "invoice", "customer_email": "someone@example.com"}},
    })


class Inlet:
    """`inlet` processes of one scenario: a dev server (or console) and `send`."""

    def __init__(self, binary, workdir, env):
        self.binary = binary
        self.workdir = workdir
        self.env = env
        self.procs = []

    def start(self, *args):
        proc = subprocess.Popen(
            [self.binary, *args], cwd=self.workdir, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.procs.append(proc)
        # The console's URL is printed at start.
        for line in proc.stdout:
            m = re.search(r"console:\s+(http://\S+/console)", line)
            if m:
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                return m.group(1)
        raise AssertionError(f"inlet {' '.join(args)} printed no console URL")

    def send(self, url, event_id):
        body = self.workdir / f"{event_id}.json"
        body.write_text(stripe_event(event_id))
        out = subprocess.run(
            [self.binary, "send", "stripe", "--body", str(body), "--url", url],
            cwd=self.workdir, env=self.env, capture_output=True, text=True, check=False,
        )
        assert out.returncode == 0 and out.stdout.startswith("202"), out.stdout + out.stderr

    def stop(self):
        for p in self.procs:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def browser():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", f"--user-data-dir={tempfile.mkdtemp(prefix='inlet-chromium-')}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opts)
    # A reload that hangs must not eat a whole wait_for (the default is 300 s).
    driver.set_page_load_timeout(10)
    return driver


def shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def text(driver):
    """The page's text; empty while a page is being replaced."""
    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except (StaleElementReferenceException, NoSuchElementException):
        return ""
    except WebDriverException as e:
        # Chromium's word for the same race (the body replaced between finding it and
        # reading it) is a generic error, not a stale-element one.
        if "does not belong to the document" in str(e):
            return ""
        raise


def reloaded_text(driver):
    """Reload the page and return its text; empty when Chromium cuts the reload short.

    Chromium sometimes answers a reload with "timeout from aborted by navigation: Not
    attached to an active page" (a clean-clone run failed on it): the reload raced the
    page's own load. The page is fine, so the caller's wait_for simply tries again.
    """
    try:
        driver.refresh()
    except TimeoutException:
        return ""
    except WebDriverException as e:
        if "Not attached to an active page" in str(e):
            return ""
        raise
    return text(driver)


def click_then(driver, button_id, expect):
    """Click a button that loads a page, and wait for `expect` on the new page."""
    driver.find_element(By.ID, button_id).click()
    return wait_for(f"{expect!r} after {button_id}", lambda: expect in text(driver))


def scenario(driver, inlet, console, webhook, sink, tag):
    """Every page, search, open, replay, live list, redrive with confirmation."""
    ok, dead, later = f"evt_ok_{tag}", f"evt_dead_{tag}", f"evt_live_{tag}"
    sink.refuse.add(f"stripe:{dead}")
    inlet.send(webhook, ok)
    inlet.send(webhook, dead)
    wait_for("the first delivery", lambda: sink.delivered(f"stripe:{ok}"))

    driver.get(console)
    assert "Overview" in driver.title, driver.title
    wait_for("the overview to list the event", lambda: ok in reloaded_text(driver))
    shot(driver, f"{tag}-overview")

    # Search, then open the event.
    driver.get(console + "/events")
    box = driver.find_element(By.ID, "f-key")
    box.send_keys(ok)
    driver.find_element(By.ID, "search-button").click()
    wait_for("the search to narrow the list", lambda: f"key={ok}" in driver.current_url)
    rows = wait_for("the search result", lambda: driver.find_elements(By.CSS_SELECTOR, "#events-table tbody tr"))
    assert len(rows) == 1 and ok in rows[0].text, [r.text for r in rows]
    shot(driver, f"{tag}-events-search")
    driver.find_element(By.LINK_TEXT, f"stripe:{ok}").click()
    assert driver.find_element(By.ID, "state").text == "delivered"
    payload = driver.find_element(By.ID, "payload").text
    assert ok in payload and "someone@example.com" not in payload, payload
    shot(driver, f"{tag}-event")

    # Replay: the new delivery appears in the timeline and at the sink.
    click_then(driver, "replay", "Enqueued for replay")
    wait_for("the replay in the timeline",
             lambda: "replayed" in reloaded_text(driver))
    assert driver.find_element(By.ID, "state").text == "replayed"
    assert driver.find_element(By.ID, "attempt-count").text == "2"
    assert sink.delivered(f"stripe:{ok}", "replay"), sink.got
    shot(driver, f"{tag}-event-replayed")

    # The list follows new events without a reload.
    driver.get(console + "/events")
    inlet.send(webhook, later)
    wait_for("the live list to show the new event", lambda: later in text(driver))
    assert f"key={later}" not in driver.current_url, "no reload, no search"
    shot(driver, f"{tag}-events-live")

    # Dead letters: grouped by reason; redrive all after a confirmation.
    driver.get(console + "/dlq")
    wait_for("the dead letter", lambda: dead in reloaded_text(driver), timeout=30)
    assert "refused the event permanently" in text(driver), text(driver)
    shot(driver, f"{tag}-dlq")
    sink.refuse.clear()
    click_then(driver, "redrive-all", "Move every dead letter back")
    shot(driver, f"{tag}-dlq-confirm")
    click_then(driver, "confirm", "Redriven")
    wait_for("the DLQ to empty", lambda: "0 dead letter(s)" in reloaded_text(driver), timeout=30)
    wait_for("the redriven event at the sink", lambda: sink.delivered(f"stripe:{dead}"), timeout=30)
    shot(driver, f"{tag}-dlq-empty")

    for page in ["reviews", "sources"]:
        driver.get(f"{console}/{page}")
        assert page.capitalize() in driver.title, driver.title
        shot(driver, f"{tag}-{page}")

    # Unknown event: a clear 404 page.
    driver.get(console + "/events/stripe%3Aevt_nope")
    assert "No such event" in driver.title, driver.title


def local_run(binary, driver):
    sink = Sink()
    with tempfile.TemporaryDirectory() as d:
        work = pathlib.Path(d)
        (work / "inlet.toml").write_text(config(sink.url))
        port = free_port()
        env = {**os.environ, "RUST_LOG": "warn"}
        inlet = Inlet(binary, work, env)
        try:
            console = inlet.start("dev", "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "data"))
            scenario(driver, inlet, console, f"http://127.0.0.1:{port}/webhooks/stripe", sink, "local")
        finally:
            inlet.stop()


class CfnLoader(yaml.SafeLoader):
    pass


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def stack_on_moto(endpoint):
    """The work queue with its DLQ and the state table, as template.yaml declares them."""
    kw = dict(endpoint_url=endpoint, region_name="us-east-1")
    sqs, ddb = boto3.client("sqs", **kw), boto3.client("dynamodb", **kw)
    name = f"inlet-browser-{int(time.time() * 1000)}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName=name, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})["QueueUrl"]
    props = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)["Resources"]["StateTable"]["Properties"]
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"], GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"])
    return {"INLET_QUEUE_URL": queue, "INLET_DLQ_URL": dlq, "INLET_TABLE": name}


def aws_run(binary, driver, endpoint):
    sink = Sink()
    with tempfile.TemporaryDirectory() as d:
        work = pathlib.Path(d)
        (work / "inlet.toml").write_text(config(sink.url))
        env = {**os.environ, **stack_on_moto(endpoint), "AWS_ENDPOINT_URL": endpoint, "RUST_LOG": "warn"}
        inlet = Inlet(binary, work, env)
        try:
            port = free_port()
            console = inlet.start("dev", "--backend", "aws", "--listen", f"127.0.0.1:{port}")
            scenario(driver, inlet, console, f"http://127.0.0.1:{port}/webhooks/stripe", sink, "aws")
            # The console alone against the stack, as an operator runs it on a workstation.
            alone = inlet.start("console", "--backend", "aws", "--listen", f"127.0.0.1:{free_port()}")
            driver.get(alone + "/events")
            assert "evt_ok_aws" in text(driver), text(driver)
            shot(driver, "aws-console-alone")
        finally:
            inlet.stop()


def token_is_required_beyond_loopback(binary):
    """Bound beyond loopback, the console answers 401 without the printed token."""
    sink = Sink()
    with tempfile.TemporaryDirectory() as d:
        work = pathlib.Path(d)
        (work / "inlet.toml").write_text(config(sink.url))
        inlet = Inlet(binary, work, {**os.environ, "RUST_LOG": "warn"})
        try:
            url = inlet.start("dev", "--listen", f"0.0.0.0:{free_port()}", "--data-dir", str(work / "data"))
            try:
                urllib.request.urlopen(url.replace("0.0.0.0", "127.0.0.1"))
                raise AssertionError("the console answered without its token")
            except urllib.error.HTTPError as e:
                assert e.code == 401, e.code
        finally:
            inlet.stop()


def main():
    binary = str(pathlib.Path(sys.argv[1]).resolve())
    driver = browser()
    try:
        local_run(binary, driver)
        print("console (local): every page, search, replay, live list, redrive: ok")
        endpoint = os.environ.get("INLET_TEST_AWS_ENDPOINT")
        if endpoint:
            aws_run(binary, driver, endpoint)
            print("console (aws on moto, and `inlet console --backend aws`): ok")
        token_is_required_beyond_loopback(binary)
        print("console bound beyond loopback: the token is required: ok")
        print(f"screenshots: {SHOTS}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
