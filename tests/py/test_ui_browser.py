"""The web UI in headless Chromium against a quickstart warehouse on which the scheduler
ran 2023-12-07: each page is loaded (scripts run), its DOM checked against the CLI's view
of the same state, and a screenshot saved under <build>/artifacts/ui/. The lookup page's
script posts to the fetch API and must show the value `chronon run --mode fetch` prints."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse

import pytest

import ui_util
from ui_util import Ui

if not ui_util.BIN or not ui_util.SRC:
    pytest.skip("run through ctest (CHRONON_BIN, CN_SOURCE_DIR)", allow_module_level=True)
if not ui_util.chromium_path():
    ui_util.skip_file("chromium not installed (scripts/deps.sh test installs it)")

DS = "2023-12-07"
GB_DAG = "chronon_batch_dag_quickstart"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uib")
    repo, env = ui_util.quickstart_day(tmp, DS)
    s = Ui(env, ["ui", "--port", "0", "--repo", repo])
    s.env, s.repo = env, repo
    s.profile = tempfile.mkdtemp(prefix="cn_ui_chromium_")
    yield s
    out, err = s.stop()
    shutil.rmtree(s.profile, ignore_errors=True)
    assert s.p.returncode == 0 and "stopping on a signal" in out, err  # sanitizer builds: no leak, no error


def cli(site, *args):
    r = subprocess.run([ui_util.BIN] + list(args) + ["--repo", site.repo], env=site.env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def load(site, path, shot):
    """The DOM of path after its scripts ran, and a screenshot <shot>.png as an artifact."""
    url = site.base() + path
    return ui_util.chromium(url, site.profile, screenshot=os.path.join(ui_util.artifacts_dir(), shot + ".png"))


def test_dag_list(site):
    dom = load(site, "/ui/", "dags")
    doc = json.loads(cli(site, "dags", "list", "--json"))
    assert len(doc["dags"]) == 4
    for d in doc["dags"]:
        row = dom.split('data-dag="%s"' % d["dag_id"], 1)[1].split("</tr>", 1)[0]
        assert d["last_run"]["ds"] == DS and d["last_run"]["state"] == "success"
        assert DS in row and '<span class="st st-success">success</span>' in row, d["dag_id"]


def test_grid_has_every_task_state(site):
    dom = load(site, "/ui/dag?id=" + GB_DAG, "grid")
    cells = dict(((ui_util.text_of(t), ds), st) for st, t, ds in
                 re.findall(r'<td class="g st-([a-z_]+)" data-task="([^"]*)" data-ds="([^"]*)">', dom))
    state = json.loads(cli(site, "dags", "state", GB_DAG, DS, "--json"))
    assert state["tasks"] and len(cells) == len(state["tasks"])
    for t in state["tasks"]:
        assert t["state"] == "success"
        assert cells[(t["task_id"], DS)] == "success", t["task_id"]


def test_task_log(site):
    task = "purchases_v1.backfill_task"
    q = urllib.parse.urlencode({"dag": GB_DAG, "task": task, "ds": DS})
    dom = load(site, "/ui/log?" + q, "log")
    log = cli(site, "tasks", "logs", GB_DAG, task, DS)
    line = [l for l in log.splitlines() if l.startswith("backfill quickstart.purchases.v1: wrote")]
    assert line, log
    pre = ui_util.text_of(re.search(r'<pre id="log">(.*?)</pre>', dom, re.S).group(1))
    assert line[0] in pre
    assert '<span class="st st-success">success</span>' in dom


def test_tables_and_partitions(site):
    dom = load(site, "/ui/tables", "tables")
    for t in ("data.purchases", "default.purchases", "default.quickstart_purchases_v1",
              "default.quickstart_training_set_v2"):
        assert "/ui/table?name=%s\"" % t in dom, t
    name = "default.quickstart_purchases_v1"
    dom = load(site, "/ui/table?name=" + name, "table")
    want = json.loads(cli(site, "table", "partitions", name, "--json"))["partitions"]
    got = re.findall(r'<tr class="part"><td>([0-9-]+)</td><td class="n">(\d+)</td><td class="n">(\d+)</td>'
                     r'<td class="n">(\d+)</td>', dom)
    assert got == [(p["ds"], str(p["files"]), str(p["records"]), str(p["bytes"])) for p in want]
    assert re.search(r'<tr class="snap"><td>\d+ <b>\(current\)</b>', dom)


def test_lookup_form_fetches_features(site):
    name = "quickstart/purchases.v1"
    r = subprocess.run([ui_util.BIN, "run", "--mode", "fetch", "--conf-type", "group_bys", "--name", name,
                        "-k", '{"user_id":"5"}', "--repo", site.repo], env=site.env, capture_output=True,
                       text=True, timeout=120, cwd=site.repo)
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)
    assert want["purchase_price_sum_30d"] is not None
    q = urllib.parse.urlencode({"kind": "groupby", "name": name, "keys": '[{"user_id": "5"}]', "go": "1"})
    dom = load(site, "/ui/lookup?" + q, "lookup")
    assert 'data-state="done"' in dom, ui_util.text_of(dom.split('id="result"', 1)[1])[:2000]
    rows = dict(re.findall(r'<tr data-feature="([^"]+)"><td class="fname">[^<]*</td><td class="fval">([^<]*)</td>',
                           dom))
    assert set(rows) == set(want)
    for k, v in want.items():
        assert json.loads(rows[k]) == v, k
    # the UI's own fetch route answers as chronon serve does
    st, _, body = site.request("POST", "/v1/features/groupby/quickstart%2Fnope.v1", body='[{"user_id": "5"}]')
    assert st == 404 and "nope" in json.loads(body)["errors"][0]
    st, _, body = site.request("POST", "/v1/features/groupby/quickstart%2Fpurchases.v1", body='{"user_id": 5')
    assert st == 400 and json.loads(body)["errors"]
    st, _, body = site.request("POST", "/v1/features/nope/x", body="[]")
    assert st == 404


def test_serve_mounts_the_ui(site):
    """`chronon serve` has the same pages next to its fetch routes, which the lookup posts to."""
    s = Ui(site.env, ["serve", "--port", "0", "--repo", site.repo], marker="listening on ")
    try:
        st, _, body = s.get("/ui/")
        assert st == 200 and 'data-dag="%s"' % GB_DAG in body
        st, _, body = s.get("/ui/lookup")
        assert st == 200 and 'data-base="/v1/features"' in body
        st, _, body = s.request("POST", "/v1/features/groupby/quickstart%2Fpurchases.v1", body='[{"user_id": "5"}]')
        assert st == 200 and json.loads(body)["results"][0]["status"] == "Success"
        assert s.get("/health")[0] == 200  # the server's own routes still answer
    finally:
        out, err = s.stop()
    assert s.p.returncode == 0, err
