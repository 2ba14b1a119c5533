"""Helpers of the web UI tests: start `chronon ui` on a free port, plain HTTP requests that
do not follow redirects, headless Chromium (--dump-dom, --screenshot), and a quickstart
warehouse on which the scheduler ran one day.

A missing chromium skips loudly: SKIP and exit 77 (CTest's skip code), or a failure under
CN_TEST_STRICT=1 (CI installs it: scripts/deps.sh test)."""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

BIN = os.environ.get("CHRONON_BIN")
SRC = os.environ.get("CN_SOURCE_DIR")
BUILD = os.environ.get("CN_BUILD_DIR", "")


def skip_file(why):
    """Skips the whole test file: exit 77, or fail under CN_TEST_STRICT=1."""
    if os.environ.get("CN_TEST_STRICT") == "1":
        raise RuntimeError(f"SKIP not allowed (CN_TEST_STRICT=1): {why}")
    print(f"SKIP: {why}", flush=True)
    os._exit(77)


def chromium_path():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Ui:
    """A running `chronon <verb> ... --port 0` (or scheduler --ui-port 0) and its base URL."""

    def __init__(self, env, args, marker="web UI at "):
        self.p = subprocess.Popen([BIN] + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, start_new_session=True)
        self.lines = []
        end = time.time() + 30
        while time.time() < end:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if marker in line:
                self.url = line.split(marker, 1)[1].split()[0]
                u = urllib.parse.urlparse(self.url)
                self.host, self.port = u.hostname, u.port
                return
        out, err = self.stop()
        raise AssertionError("no UI address printed: %r %s %s" % (self.lines, out, err))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            out, err = self.p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
        return out, err

    def request(self, method, path, body=None, form=None):
        """(status, headers dict with lower-case names, body text). Redirects are not followed."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {}
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        h = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, h, text

    def get(self, path):
        return self.request("GET", path)

    def base(self):
        return "http://%s:%d" % (self.host, self.port)


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=1500"]


def chromium(url, profile, screenshot=None, size="1280,900"):
    """The DOM after the page's scripts ran (--dump-dom); with screenshot, also writes that
    PNG in the same run (one browser start per page: starting takes seconds here)."""
    args = [chromium_path()] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile, "--window-size=" + size]
    if screenshot:
        args.append("--screenshot=" + screenshot)
    args += ["--dump-dom", url]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "chromium failed on %s: %s" % (url, r.stderr[-2000:])
    if screenshot:
        assert os.path.getsize(screenshot) > 1000, "empty screenshot " + screenshot
    assert "</html>" in r.stdout, "no DOM from chromium for %s: %s" % (url, r.stderr[-2000:])
    return r.stdout


def text_of(html):
    """The text of an HTML fragment, tags removed and entities decoded, spaces collapsed."""
    import html as h
    return re.sub(r"\s+", " ", h.unescape(re.sub(r"<[^>]*>", " ", html))).strip()


def quickstart_day(tmp, ds="2023-12-07"):
    """A copy of examples/quickstart with its sample data loaded and `chronon scheduler
    --once --ds <ds>` run on it (every DAG: backfills, uploads, metadata uploads).
    Returns (repo, env)."""
    repo = os.path.join(str(tmp), "qs")
    shutil.copytree(os.path.join(SRC, "examples", "quickstart"), repo)
    with open(os.path.join(repo, "scheduler.json"), "w") as f:
        json.dump({"poll_interval_seconds": 0.05, "sensor_poke_interval_seconds": 0.05}, f)
    env = dict(os.environ, CHRONON_REPO_PATH=repo)
    for k in ("CHRONON_WAREHOUSE", "CHRONON_CATALOG", "CHRONON_ONLINE", "CHRONON_SCHEDULER_DB"):
        env.pop(k, None)

    def run(*args):
        r = subprocess.run([BIN] + list(args), env=env, cwd=repo, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, "chronon %s: %s%s" % (" ".join(args), r.stdout[-3000:], r.stderr[-3000:])
        return r

    run("load", "data/purchases.csv", "default.purchases")
    for t in ("purchases", "returns", "users", "checkouts"):
        run("load", "data/%s.csv" % t, "data.%s" % t)
    r = run("scheduler", "--once", "--ds", ds)
    assert "0 failed, 0 upstream_failed, 0 blocked" in r.stdout, r.stdout
    return repo, env


def artifacts_dir():
    d = os.path.join(BUILD or tempfile.gettempdir(), "artifacts", "ui")
    os.makedirs(d, exist_ok=True)
    return d
