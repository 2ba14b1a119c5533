"""Small builders for oracle tests: compiled-config shapes and in-memory tables."""

import calendar
import datetime

import chronon_oracle as co

OPS = {name: num for num, name in co.OPERATIONS.items()}


def ms(text):
    """'2025-01-20 14:23:10.000' (UTC) -> epoch milliseconds."""
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S" if ":" in text \
        else "%Y-%m-%d"
    d = datetime.datetime.strptime(text, fmt)
    return calendar.timegm(d.timetuple()) * 1000 + d.microsecond // 1000


def win(n, unit="d"):
    return {"length": n, "timeUnit": 1 if unit == "d" else 0}


def agg(col, op, windows=None, buckets=None, element_wise=None, **args):
    a = {"inputColumn": col, "operation": OPS[op], "argMap": {k: str(v) for k, v in args.items()}}
    if windows is not None:
        a["windows"] = windows
    if buckets is not None:
        a["buckets"] = buckets
    if element_wise is not None:
        a["elementWise"] = 1 if element_wise else 0
    return a


def query(selects, time_column="ts", wheres=None, start=None, end=None):
    q = {"selects": {c: c for c in selects} if isinstance(selects, (list, tuple)) else selects}
    if wheres:
        q["wheres"] = wheres
    if start:
        q["startPartition"] = start
    if end:
        q["endPartition"] = end
    if time_column:
        q["timeColumn"] = time_column
    q["setups"] = []
    return q


def events_gb(aggs, selects, keys=("user",), table="ns.events", accuracy=None, time_column="ts",
              name="team.gb.v1", derivations=None, topic=None, cumulative=False, **qargs):
    src = {"table": table, "query": query(selects, time_column, **qargs)}
    if topic:
        src["topic"] = topic
    if cumulative:
        src["isCumulative"] = 1
    conf = {"metaData": {"name": name, "outputNamespace": "ns"},
            "sources": [{"events": src}], "keyColumns": list(keys)}
    if aggs is not None:
        conf["aggregations"] = aggs
    if accuracy is not None:
        conf["accuracy"] = {"TEMPORAL": 0, "SNAPSHOT": 1}[accuracy]
    if derivations is not None:
        conf["derivations"] = derivations
    return conf


def entities_gb(aggs, selects, keys=("user",), table="ns.snap", mutation_table=None,
                accuracy=None, time_column="ts", name="team.ent.v1", derivations=None):
    src = {"snapshotTable": table, "query": query(selects, time_column)}
    if mutation_table:
        src["mutationTable"] = mutation_table
        src["mutationTopic"] = "topic"
    conf = {"metaData": {"name": name, "outputNamespace": "ns"},
            "sources": [{"entities": src}], "keyColumns": list(keys)}
    if aggs is not None:
        conf["aggregations"] = aggs
    if accuracy is not None:
        conf["accuracy"] = {"TEMPORAL": 0, "SNAPSHOT": 1}[accuracy]
    if derivations is not None:
        conf["derivations"] = derivations
    return conf


def event_rows(events, **extra):
    """[(ts_text_or_ms, {cols})] -> rows stored in partition day(ts)."""
    rows = []
    for ts, cols in events:
        t = ms(ts) if isinstance(ts, str) else ts
        row = {"ds": co.day_of(t), "ts": t}
        row.update(extra)
        row.update(cols)
        rows.append(row)
    return rows


def tables(**named):
    """tables(ns__events=(rows, schema)) -> {"ns.events": Table}."""
    out = {}
    for key, spec in named.items():
        name = key.replace("__", ".")
        rows, schema = spec if isinstance(spec, tuple) else (spec, None)
        out[name] = co.Table.from_rows(name, rows, schema)
    return out


def by_ds(rows):
    return {r["ds"]: r for r in rows}
