"""Helpers for the `chronon serve` tests: a warehouse with a copy of the quickstart repo,
the server started on a free port (its first stdout line read back), and HTTP requests
that return the status and body of an error reply too instead of raising."""

import json
import os
import select
import shutil
import subprocess
import urllib.error
import urllib.request

from engine_util import CHRONON, SRC, Warehouse

QS = os.path.join(SRC, "examples", "quickstart")
DATA = os.path.join(QS, "data")
PURCHASES = "ts:int64,purchase_id:string,user_id:string,product_id:string,purchase_price:int64,item_category:string"
B = (19698 + 1) * 86400000  # epoch(2023-12-07) + 1 day: the batch end of the upload of 2023-12-07
Q = B + 3600000 * 5 + 17  # a fetch time inside the first day after the upload


def quickstart_warehouse(root):
    """A Warehouse under root with the quickstart repo copied to root/repo (w.repo) and the
    purchases loaded as data.purchases."""
    repo = os.path.join(str(root), "repo")
    shutil.copytree(os.path.join(QS, "production"), os.path.join(repo, "production"))
    shutil.copy(os.path.join(QS, "teams.json"), repo)
    w = Warehouse(root)
    w.load(os.path.join(DATA, "purchases.csv"), "data.purchases", PURCHASES)
    w.repo = repo
    return w


def start_serve(w, *args, env=None, wait=30):
    """Starts `chronon serve --port 0 --repo w.repo --threads 2 args` and waits up to `wait`
    seconds for its "listening" line: (process, that line, base URL)."""
    cmd = [CHRONON, "serve", "--port", "0", "--repo", w.repo, "--threads", "2"] + list(args)
    p = subprocess.Popen(cmd, env=env or w.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r, _, _ = select.select([p.stdout], [], [], wait)
    line = p.stdout.readline() if r else ""
    if not line.startswith("serve: listening on http://"):
        if p.poll() is None:
            p.kill()
        out, err = p.communicate(timeout=30)
        raise AssertionError("chronon serve did not start: %r\n%s%s" % (line, out, err))
    return p, line, line.split()[3]


def request(base, method, path, body=None, raw=None, timeout=30):
    """One HTTP request with a JSON body (or raw bytes): (status, headers, text), error
    statuses included."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()
