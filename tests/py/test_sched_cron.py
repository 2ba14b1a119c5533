"""Schedules beyond @daily/@weekly/@monthly/@never: a Join's metaData.offlineSchedule may be
any Airflow preset or 5-field cron string; the scheduler creates a run for each ds on
which the schedule fires (Airflow's logical dates), and a schedule that is not valid is
one clear problem naming the file, the field and the value, the other DAGs still run."""
import json
import os
import sqlite3

import sched_util as u

TEAMS = {"default": {"namespace": "default_ns"}, "t": {"namespace": "ns_t", "dag_start_date": "2023-12-28"},
         "s": {"namespace": "ns_s", "dag_start_date": "2023-12-28"},
         "j": {"namespace": "ns_j", "dag_start_date": "2023-12-28"}}

# 2023-12-28 is a Thursday; today 2024-01-02, so runs go up to 2024-01-01 (a Monday).
SCHEDULES = {
    "weekdays": ("0 3 * * 1-5", ["2023-12-28", "2023-12-29", "2024-01-01"]),
    "days_1_31": ("0 0 1,31 * *", ["2023-12-31", "2024-01-01"]),
    "sundays": ("15 10 * * SUN", ["2023-12-31"]),
    # both day fields restricted: the 28th OR a Saturday (cron's rule)
    "either_day": ("0 0 28 * sat", ["2023-12-28", "2023-12-30"]),
    "january_steps": ("*/20 */6 * JAN *", ["2024-01-01"]),
    "every_other_day": ("0 0 */2 * *", ["2023-12-29", "2023-12-31", "2024-01-01"]),
    "yearly": ("@yearly", ["2024-01-01"]),
    "seven_is_sunday": ("0 0 * * 7", ["2023-12-31"]),
}


def join(name, schedule):
    return {
        "metaData": {"name": "j.%s.v1" % name, "online": 0, "outputNamespace": "ns_j", "team": "j",
                     "offlineSchedule": schedule, "dependencies": []},
        "left": {"events": {"table": "data.left", "query": {"selects": {"user_id": "user_id", "ts": "ts"},
                                                             "timeColumn": "ts"}}},
        "joinParts": [{"groupBy": {
            "metaData": {"name": "j.%s_part.v1" % name, "team": "j"},
            "sources": [{"events": {"table": "data.clicks", "query": {
                "selects": {"user_id": "user_id", "c": "1"}, "timeColumn": "ts"}}}],
            "keyColumns": ["user_id"],
            "aggregations": [{"inputColumn": "c", "operation": 7, "argMap": {}}]}}],
    }


def make(tmp_path, schedules):
    repo, env = u.make_repo(tmp_path, settings={"catchup": True}, start="2023-12-28")
    u.write(os.path.join(repo, "teams.json"), json.dumps(TEAMS))
    for name, sched in schedules.items():
        u.write(os.path.join(repo, "production/joins/j/%s.v1" % name), json.dumps(join(name, sched)))
    return repo, env


def join_days(env):
    out = {}
    for k in u.intervals(env):
        if k[0].startswith("chronon_join_j_"):
            out.setdefault(k[0][len("chronon_join_j_"):-3], set()).add(k[2])
    return out


def join_runs(repo):
    """{(name, ds, state)} of the join DAGs' runs, read from the state DB."""
    db = os.path.join(repo, "warehouse", "scheduler.db")
    if not os.path.exists(db):
        return set()
    with sqlite3.connect(db, timeout=30) as c:
        rows = c.execute("SELECT dag_id, ds, state FROM dag_runs WHERE dag_id LIKE 'chronon_join_j_%'").fetchall()
    return {(d[len("chronon_join_j_"):-3], ds, st) for d, ds, st in rows}


def test_cron_schedules_run_on_the_days_they_fire(tmp_path):
    repo, env = make(tmp_path, {k: v[0] for k, v in SCHEDULES.items()})
    r = u.chronon(env, "dags", "list")
    assert r.returncode == 0, r.stderr
    for name, (sched, _) in SCHEDULES.items():
        line = [x for x in r.stdout.splitlines() if x.startswith("chronon_join_j_%s_v1 " % name)]
        assert line and sched in line[0], (name, r.stdout)
    want = {k: set(v[1]) for k, v in SCHEDULES.items()}
    d = u.start_daemon(env, "--no-ui")
    try:
        u.wait_for(lambda: join_days(env) == want, timeout=60, what="the cron DAGs' runs")
        u.wait_for(lambda: join_runs(repo) == {(n, ds, "success") for n, days in want.items() for ds in days},
                   timeout=30, what="runs to finish")
    finally:
        u.stop(d)
    assert join_days(env) == want  # and nothing more once settled
    # the exported Airflow DAG carries the same schedule string
    out = tmp_path / "airflow"
    r = u.chronon(env, "airflow", "export", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert 'schedule="0 3 * * 1-5"' in (out / "chronon_join_j_weekdays_v1.py").read_text()


BAD = {
    "four_fields": ("0 3 * *", "4 fields where a cron string has 5"),
    "hour_25": ("0 25 * * *", "hour field \"25\": 25-25 is outside 0-23"),
    "bad_step": ("*/0 * * * *", "minute field \"*/0\" is not a number, range, list or step"),
    "bad_name": ("0 0 * FOO *", "month field \"FOO\""),
    "preset": ("@fortnightly", "unknown preset"),
}


def test_invalid_schedule_is_one_clear_problem_and_other_dags_run(tmp_path):
    schedules = {k: v[0] for k, v in BAD.items()}
    schedules["good"] = "0 3 * * *"
    repo, env = make(tmp_path, schedules)
    r = u.chronon(env, "dags", "list")
    assert r.returncode == 1
    for name, (sched, why) in BAD.items():
        msgs = [x for x in r.stderr.splitlines() if "production/joins/j/%s.v1" % name in x]
        assert len(msgs) == 1, r.stderr
        m = msgs[0]
        assert 'metaData.offlineSchedule "%s" is not a schedule' % sched in m and why in m, m
        assert "5-field cron string" in m and "j.%s.v1 is not scheduled" % name in m, m
        assert "chronon_join_j_%s_v1" % name not in r.stdout
    assert "chronon_join_j_good_v1" in r.stdout
    # the daemon runs the valid DAGs and stays up
    d = u.start_daemon(env, "--no-ui", "--dag", "chronon_join_j_good_v1")
    try:
        u.wait_for(lambda: join_days(env).get("good") == {"2023-12-28", "2023-12-29", "2023-12-30", "2023-12-31",
                                                          "2024-01-01"}, timeout=60, what="the valid DAG's runs")
        assert d.poll() is None
    finally:
        out, err = u.stop(d)
    assert "four_fields" in err and "is not a schedule" in err
