"""The web UI's HTML routes over plain HTTP (no browser): status codes and redirects, what
each page shows against the CLI's view of the same state, the action buttons' POSTs,
escaping of hostile names, 404/400/405 pages, and the scheduler serving the UI.
Uses the small scheduler repo of sched_util.py (fake task runner)."""
import json
import os
import re

import pytest

import sched_util as u
import ui_util
from sched_util import GB_DAG, SQ_DAG, chronon
from ui_util import Ui

pytestmark = pytest.mark.skipif(not u.BIN or not u.SRC, reason="run through ctest (CHRONON_BIN, CN_SOURCE_DIR)")

DS = "2024-01-01"
TEAM = "h<i>\"&'x"
HOSTILE_CONF = "gb<img src=x onerror=alert(1)>.v1"


def hostile_repo(tmp_path, plan=None):
    """The sched_util repo plus a GroupBy of a team and file whose names are markup, a
    table data.raw with two partitions, and one scheduler day (upload_task fails)."""
    repo, env = u.make_repo(tmp_path, plan=plan if plan is not None else {"upload_task": {"exit": 3}})
    gb = json.load(open(os.path.join(repo, "production/group_bys/t/gb.v1")))
    gb["metaData"]["team"] = TEAM
    gb["metaData"]["name"] = TEAM + ".gb.v1"
    u.write(os.path.join(repo, "production/group_bys", TEAM, HOSTILE_CONF), json.dumps(gb))
    teams = json.load(open(os.path.join(repo, "teams.json")))
    teams[TEAM] = {"namespace": "ns_t", "dag_start_date": "2024-01-01"}
    u.write(os.path.join(repo, "teams.json"), json.dumps(teams))
    csv = os.path.join(str(tmp_path), "raw.csv")
    with open(csv, "w") as f:
        f.write("user_id,ds\n1,2024-01-01\n2,2024-01-01\n3,2024-01-02\n")
    r = chronon(env, "load", csv, "data.raw", "--repo", repo)
    assert r.returncode == 0, r.stderr
    r = chronon(env, "scheduler", "--once", "--ds", DS)
    assert r.returncode == 1 and "failed" in r.stdout, r.stdout + r.stderr
    return repo, env


def hostile_dag(env):
    doc = json.loads(chronon(env, "dags", "list", "--json").stdout)
    ids = [d["dag_id"] for d in doc["dags"] if d["dag_id"] not in (GB_DAG, SQ_DAG)]
    assert len(ids) == 1, ids
    return ids[0]


def start(tmp):
    repo, env = hostile_repo(tmp)
    s = Ui(env, ["ui", "--port", "0"])
    s.env, s.repo = env, repo
    return s


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """One scheduler day for the tests that only read."""
    s = start(tmp_path_factory.mktemp("ui"))
    yield s
    out, err = s.stop()
    assert s.p.returncode == 0 and "stopping on a signal" in out, err  # sanitizer builds: no leak, no error


@pytest.fixture
def ui_rw(tmp_path):
    s = start(tmp_path)
    yield s
    out, err = s.stop()
    assert s.p.returncode == 0, err


def grid(html):
    """{(task, ds): state} from the DAG page's grid cells."""
    cells = re.findall(r'<td class="g st-([a-z_]+)" data-task="([^"]*)" data-ds="([^"]*)">', html)
    return {(ui_util.text_of(t), d): s for s, t, d in cells}


def test_pages_show_the_state_the_cli_shows(ui):
    st, h, body = ui.get("/")
    assert st == 303 and h["location"].endswith("/ui/")
    st, h, body = ui.get("/ui/")
    assert st == 200 and h["content-type"].startswith("text/html")
    doc = json.loads(chronon(ui.env, "dags", "list", "--json").stdout)
    for d in doc["dags"]:
        assert 'data-dag="%s"' % d["dag_id"] in body
    # the last run of each DAG, with its state, as `dags list` has it
    row = body.split('data-dag="%s"' % GB_DAG, 1)[1].split("</tr>", 1)[0]
    assert DS in row and "st-failed" in row and "1 failed" in row and "1 success" in row
    # the grid: every task's state for the day equals `dags state`
    st, _, body = ui.get("/ui/dag?id=" + GB_DAG)
    assert st == 200
    _, tasks = u.task_states(ui.env, GB_DAG, DS)
    g = grid(body)
    assert {t: g[(t, DS)] for t in tasks} == {t: v["state"] for t, v in tasks.items()}
    assert g[("upload_task", DS)] == "failed" and g[("metadata_upload_task", DS)] == "upstream_failed"
    assert "/ui/log?dag=%s&amp;task=upload_task&amp;ds=%s" % (GB_DAG, DS) in body
    # the log page shows the failed try's log and reason
    st, _, body = ui.get("/ui/log?dag=%s&task=upload_task&ds=%s" % (GB_DAG, DS))
    assert st == 200
    logtxt = chronon(ui.env, "tasks", "logs", GB_DAG, "upload_task", DS).stdout
    assert "fake runner: failing with exit code 3 on try 1" in logtxt
    log = re.search(r'<pre id="log">(.*?)</pre>', body, re.S).group(1)
    assert ui_util.text_of(log) == ui_util.text_of(logtxt.replace("<", "&lt;"))
    assert "exit code 3" in ui_util.text_of(re.search(r'id="reason">(.*?)</td>', body, re.S).group(1))
    # a task that never ran says so
    st, _, body = ui.get("/ui/log?dag=%s&task=wait_for_data_raw_ds&ds=2024-01-05" % SQ_DAG)
    assert st == 200 and 'id="nolog"' in body


def test_tables_pages_list_partitions_and_snapshots(ui):
    st, _, body = ui.get("/ui/tables")
    assert st == 200
    row = body.split("/ui/table?name=data.raw", 1)[1].split("</tr>", 1)[0]
    cols = [ui_util.text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    assert cols[:5] == ["2", "2024-01-01", "2024-01-02", "3", "1"], cols
    st, _, body = ui.get("/ui/table?name=data.raw")
    assert st == 200
    parts = re.findall(r'<tr class="part"><td>([0-9-]+)</td><td class="n">(\d+)</td><td class="n">(\d+)</td>', body)
    assert parts == [("2024-01-01", "1", "2"), ("2024-01-02", "1", "1")]
    snaps = re.findall(r'<tr class="snap">(.*?)</tr>', body)
    assert len(snaps) == 1 and "(current)" in snaps[0] and ">append<" in snaps[0]
    assert "<td>user_id</td><td>int64</td>" in body


def test_errors_get_their_status(ui):
    for path, want in [
        ("/ui/nope", 404), ("/uix", 404), ("/ui/dag?id=nope", 404), ("/ui/dag", 400),
        ("/ui/log?dag=%s&task=nope&ds=%s" % (GB_DAG, DS), 404),
        ("/ui/log?dag=%s&task=upload_task&ds=2024-13-45" % GB_DAG, 400),
        ("/ui/log?dag=%s&task=upload_task&ds=%s&try=0" % (GB_DAG, DS), 400),
        ("/ui/table?name=data.nope", 404), ("/ui/table?name=../etc", 400),
    ]:
        st, h, body = ui.get(path)
        assert st == want, (path, st, body[-500:])
        assert h["content-type"].startswith("text/html") and 'id="error"' in body, path
    assert ui.get("/ui/action")[0] == 405
    assert ui.request("POST", "/ui/", form={})[0] == 405
    # a try that has no log file: the page says so instead of failing
    st, _, body = ui.get("/ui/log?dag=%s&task=upload_task&ds=%s&try=7" % (GB_DAG, DS))
    assert st == 200 and 'id="nolog"' in body and "7.log" in body


def test_hostile_names_are_escaped(ui):
    dag = hostile_dag(ui.env)
    st, _, body = ui.get("/ui/dag?id=" + dag)
    assert st == 200
    assert "<img src=x" not in body and "<i>" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body  # the conf path in the task's command
    assert "h&lt;i&gt;&quot;&amp;&#39;x" in body  # the team
    st, _, body = ui.get("/ui/log?dag=%s&task=backfill_task&ds=%s" % (dag, DS))
    assert st == 200 and "<img src=x" not in body
    assert "gb&lt;img src=x onerror=alert(1)&gt;.v1" in body  # the runner's argv in the log
    for path in ["/ui/dag?id=%3Cscript%3Ealert(1)%3C/script%3E", "/ui/?msg=%3Cscript%3Ealert(2)%3C/script%3E",
                 "/ui/%3Cscript%3Ealert(3)%3C/script%3E", "/ui/lookup?name=%22%3E%3Cscript%3Ealert(4)%3C/script%3E",
                 "/ui/log?dag=%s&task=%%3Cb%%3E&ds=%s" % (GB_DAG, DS)]:
        st, _, body = ui.get(path)
        assert "<script>alert" not in body and "<b>" not in body, path
        assert "&lt;script&gt;alert" in body or "&lt;b&gt;" in body, path


def token(ui):
    """The form token every page's buttons carry."""
    return re.search(r'name="token" value="([0-9a-f]{32})"', ui.get("/ui/")[2]).group(1)


def form_post(ui, **form):
    st, h, _ = ui.request("POST", "/ui/action", form=dict(form, token=token(ui)))
    return st, h.get("location", "")


def test_actions_change_the_state_db(ui_rw):
    ui = ui_rw
    env = ui.env
    st, loc = form_post(ui, op="pause", dag=GB_DAG, back="dag")
    assert st == 303 and loc.startswith("/ui/dag?id=%s&msg=" % GB_DAG), loc
    paused = {d["dag_id"]: d["paused"] for d in json.loads(chronon(env, "dags", "list", "--json").stdout)["dags"]}
    assert paused[GB_DAG] is True and paused[SQ_DAG] is False
    st, _, body = ui.get(loc)
    assert '<b id="paused">yes</b>' in body and "paused" in ui_util.text_of(re.search(r'id="msg">(.*?)</div>', body).group(1))
    assert form_post(ui, op="unpause", dag=GB_DAG, back="list")[0] == 303
    assert not {d["dag_id"]: d["paused"] for d in json.loads(chronon(env, "dags", "list", "--json").stdout)["dags"]}[GB_DAG]
    # trigger a day: a manual run the scheduler picks up; a second trigger is refused
    st, loc = form_post(ui, op="trigger", dag=GB_DAG, ds="2024-01-05", back="dag")
    assert st == 303 and "msg=" in loc
    doc = json.loads(chronon(env, "dags", "state", GB_DAG, "2024-01-05", "--json").stdout)
    assert doc["state"] == "queued" and doc["run_type"] == "manual"
    st, loc = form_post(ui, op="trigger", dag=GB_DAG, ds="2024-01-05", back="dag")
    assert st == 303 and "error=" in loc
    # clear the failed task and what follows it
    st, loc = form_post(ui, op="clear", dag=GB_DAG, task="upload_task", ds=DS, downstream="1", back="log")
    assert st == 303 and loc.startswith("/ui/log?dag=%s&task=upload_task&ds=%s&msg=cleared" % (GB_DAG, DS)), loc
    _, tasks = u.task_states(env, GB_DAG, DS)
    assert tasks["upload_task"]["state"] == "none" and tasks["metadata_upload_task"]["state"] == "none"
    assert tasks["backfill_task"]["state"] == "success"
    # bad forms
    assert form_post(ui, op="explode", dag=GB_DAG)[0] == 400
    assert form_post(ui, op="pause", dag="nope")[0] == 404
    assert form_post(ui, op="clear", dag=GB_DAG, task="upload_task", ds="yesterday")[0] == 400
    assert form_post(ui, op="clear", dag=GB_DAG, task="nope", ds=DS)[0] == 404
    # a form without this server's token (another site posting) changes nothing
    for bad in ({}, {"token": "0" * 32}):
        st, _, body = ui.request("POST", "/ui/action", form=dict(bad, op="pause", dag=GB_DAG, back="dag"))
        assert st == 403 and "token" in body
    assert not {d["dag_id"]: d["paused"] for d in json.loads(chronon(env, "dags", "list", "--json").stdout)["dags"]}[GB_DAG]


def test_scheduler_serves_the_ui_and_flags(tmp_path):
    repo, env = u.make_repo(tmp_path)
    s = Ui(env, ["scheduler", "--ui-port", "0"])
    try:
        u.wait_for(lambda: u.records(env), what="the daemon to start a task")
        st, _, body = s.get("/ui/")
        assert st == 200 and 'data-dag="%s"' % GB_DAG in body
    finally:
        out, err = s.stop()
    assert s.p.returncode == 0 and "stopping on a signal" in out, err
    r = chronon(env, "scheduler", "--no-ui", "--ui-port", "8085")
    assert r.returncode == 2 and "contradict" in r.stderr
    r = chronon(env, "scheduler", "--ui-port", "99999")
    assert r.returncode == 2 and "not a port number" in r.stderr
    r = chronon(env, "ui", "--port", "x")
    assert r.returncode == 2 and "not a port number" in r.stderr
    r = chronon(env, "ui", "--help")
    assert r.returncode == 0 and "--port N" in r.stdout and "--bind ADDR" in r.stdout
    r = chronon(env, "scheduler", "--help")
    assert "--ui-port N" in r.stdout and "--no-ui" in r.stdout
    # --once runs without the UI unless a port is given
    r = chronon(env, "scheduler", "--once", "--ds", "2024-01-01", "--dag", GB_DAG)
    assert r.returncode == 0 and "web UI" not in r.stdout
    # a port given explicitly that is taken is an error; the daemon's default port is not
    other = Ui(env, ["ui", "--port", "0"])
    try:
        r = chronon(env, "scheduler", "--once", "--ds", "2024-01-01", "--ui-port", str(other.port))
        assert r.returncode == 1 and str(other.port) in r.stderr, r.stderr
    finally:
        other.stop()
