"""Naming and dependency helpers shared by the DSL and compile.py (Chronon's ai.chronon.utils)."""

import importlib
import json
import os
import re
import sys
from collections.abc import Iterable
from enum import Enum
from math import ceil
from typing import Dict, List, Optional, Union

import ai.chronon.api.ttypes as api
import ai.chronon.repo.extract_objects as eo
from ai.chronon.repo import TEAMS_FILE_PATH, teams
from ai.chronon.repo.external_join_part import ExternalJoinPart

ChrononJobTypes = Union[api.GroupBy, api.Join, api.StagingQuery]

# compile.py sets this from --chronon_root; the environment is the fallback.
chronon_root_path = os.getenv("CHRONON_ROOT", "")


class Modes:
    backfill = "backfill"
    upload = "upload"
    streaming = "streaming"
    stats_summary = "stats-summary"
    label_join = "label-join"
    log_flattener = "log-flattener"
    consistency_metrics_compute = "consistency-metrics-compute"


class SubStage:
    bootstrap = "bootstrap"
    join_parts = "join_parts"


class FeatureDisplayKeys(Enum):
    LEFT_COLUMNS = "left_columns"
    INTERNAL_COLUMNS = "internal_columns"
    EXTERNAL_COLUMNS = "external_columns"
    DERIVED_COLUMNS = "derived_columns"
    OUTPUT_COLUMNS = "output_columns"
    KEY_COLUMNS = "key_columns"


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev = cur
    return prev[-1]


def check_contains_single(candidate, valid_items, type_name, name, print_function=repr):
    suffix = f"for {name}" if name else ""
    shown = print_function(candidate)
    if valid_items and candidate not in valid_items:
        options = sorted(map(print_function, valid_items), key=lambda item: edit_distance(shown, item))
        listing = "\n    ".join(options)
        raise AssertionError(f"{shown}, is not a valid {type_name} {suffix}\nPlease pick one from:\n    {listing}\n")


def check_contains(candidates, *args):
    if isinstance(candidates, Iterable) and not isinstance(candidates, str):
        for candidate in candidates:
            check_contains_single(candidate, *args)
    else:
        check_contains_single(candidates, *args)


def is_streaming(source: api.Source) -> bool:
    """True when the source has a topic (events) or mutation topic (entities)."""
    return bool((source.entities and source.entities.mutationTopic is not None)
                or (source.events and source.events.topic is not None))


def get_streaming_sources(group_by: api.GroupBy) -> List[api.Source]:
    return [s for s in group_by.sources if is_streaming(s)]


def get_underlying_source(source: api.Source):
    if source.entities:
        return source.entities
    if source.events:
        return source.events
    return source.joinSource


def get_query(source: api.Source) -> api.Query:
    return get_underlying_source(source).query


def get_table(source: api.Source) -> str:
    if source.entities:
        table = source.entities.snapshotTable
    elif source.events:
        table = source.events.table
    else:
        table = get_join_output_table_name(source.joinSource.join, True)
    return table.split("/")[0]


def get_topic(source: api.Source) -> str:
    return source.entities.mutationTopic if source.entities else source.events.topic


def get_columns(source: api.Source):
    query = get_query(source)
    assert query.selects is not None, "Please specify selects in your Source/Query"
    return query.selects.keys()


def get_mod_name_from_gc(obj, mod_prefix):
    """Name of a loaded module under `mod_prefix` that holds `obj` as a top-level variable."""
    for mod_name, module in list(sys.modules.items()):
        if not mod_name.startswith(mod_prefix) or module is None:
            continue
        if any(value is obj for value in list(vars(module).values())):
            return mod_name
    return None


def _set_name(obj, cls, mod_prefix):
    module_name = get_mod_name_from_gc(obj, mod_prefix)
    assert module_name, f"Couldn't find module name for object:\n{obj}\n"
    eo.import_module_set_name(importlib.import_module(module_name), cls)


def sanitize(name):
    """Every character outside [A-Za-z0-9_] becomes '_' (as Chronon's Scala cleanName)."""
    if name is not None:
        return re.sub("[^a-zA-Z0-9_]", "_", name)
    return None


def dict_to_bash_commands(d):
    if not d:
        return ""
    return " ".join(f"--{k.replace('_', '-')}={v}" if v else f"--{k.replace('_', '-')}" for k, v in d.items())


def dict_to_exports(d):
    if not d:
        return ""
    return " && ".join(f"export {k.upper()}={v}" for k, v in d.items())


def output_table_name(obj, full_name: bool):
    table_name = sanitize(obj.metaData.name)
    db = obj.metaData.outputNamespace or "{{ db }}"
    return db + "." + table_name if full_name else table_name


def join_part_name(jp):
    if jp.groupBy is None:
        raise NotImplementedError("Join Part names for non group bys is not implemented.")
    if not jp.groupBy.metaData.name and isinstance(jp.groupBy, api.GroupBy):
        _set_name(jp.groupBy, api.GroupBy, "group_bys")
    if isinstance(jp, ExternalJoinPart):
        return jp.external_join_full_prefix
    return "_".join(c for c in [jp.prefix, sanitize(jp.groupBy.metaData.name)] if c is not None)


def join_part_output_table_name(join, jp, full_name: bool = False):
    """<join output table>_[<prefix>_]<group by clean name> (Scala partOutputTable)."""
    if isinstance(join, api.Join) and not join.metaData.name:
        # a join imported from a joins.* module has no name until compiled; name it from
        # its module, as get_join_output_table_name does
        module_name = get_mod_name_from_gc(join, "joins")
        if module_name is None:
            raise ValueError("join_part_output_table_name: the join has no name and is not a top-level variable "
                             "of a joins.* module; compile it first or set metaData.name")
        eo.import_module_set_name(importlib.import_module(module_name), api.Join)
    return "_".join(c for c in [output_table_name(join, full_name), join_part_name(jp)] if c is not None)


def group_by_output_table_name(obj, full_name: bool = False):
    if not obj.metaData.name:
        _set_name(obj, api.GroupBy, "group_bys")
    return output_table_name(obj, full_name)


def log_table_name(obj, full_name: bool = False):
    return output_table_name(obj, full_name=full_name) + "_logged"


def get_staging_query_output_table_name(staging_query: api.StagingQuery, full_name: bool = False):
    """Output table of a staging query (named from the staging_queries module that holds it)."""
    _set_name(staging_query, api.StagingQuery, "staging_queries")
    return output_table_name(staging_query, full_name=full_name)


def get_join_output_table_name(join: api.Join, full_name: bool = False):
    """Output table of a join; the namespace comes from teams.json when the join sets none."""
    if isinstance(join, api.Join):
        _set_name(join, api.Join, "joins")
    if not join.metaData.outputNamespace:
        team_name = join.metaData.name.split(".")[0]
        join.metaData.outputNamespace = teams.get_team_conf(
            os.path.join(chronon_root_path, TEAMS_FILE_PATH), team_name, "namespace")
    return output_table_name(join, full_name=full_name)


def wait_for_simple_schema(table, lag, start, end, query=None):
    if not table:
        return None
    tokens = table.split("/")
    clean_name = tokens[0]
    subpartition = "/".join(tokens[1:])
    partition_col = (query.partitionColumn if query else None) or "ds"
    ds = "{{ ds }}" if lag == 0 else "{{ macros.ds_add(ds, -%s) }}" % lag
    return {
        "name": "wait_for_{}_{}{}".format(clean_name, partition_col, "" if lag == 0 else f"_minus_{lag}"),
        "spec": "{}/{}={}{}".format(clean_name, partition_col, ds, "/" + subpartition if subpartition else ""),
        "start": start,
        "end": end,
    }


def wait_for_name(dep):
    name = "wait_for_" + re.sub("[^a-zA-Z0-9]", "_", dep)
    return re.sub("_+", "_", name).rstrip("_")


def get_dependencies(src: api.Source, dependencies: List[str] = None, meta_data: api.MetaData = None,
                     lag: int = 0) -> List[str]:
    """metaData.dependencies entries (JSON strings) for one source."""
    query = get_query(src)
    start, end = query.startPartition, query.endPartition
    if meta_data is not None:
        result = [json.loads(dep) for dep in meta_data.dependencies]
    elif dependencies:
        result = [{"name": wait_for_name(d), "spec": d, "start": start, "end": end} for d in dependencies]
    elif src.entities and src.entities.mutationTable:
        tables = [src.entities.snapshotTable, src.entities.mutationTable]
        result = [r for r in (wait_for_simple_schema(t, lag, start, end, query=query) for t in tables) if r]
    elif src.entities:
        result = [wait_for_simple_schema(src.entities.snapshotTable, lag, start, end, query=query)]
    elif src.joinSource:
        parent = get_join_output_table_name(src.joinSource.join, True)
        result = [wait_for_simple_schema(parent, lag, start, end, query=query)]
    else:
        result = [wait_for_simple_schema(src.events.table, lag, start, end, query=query)]
    return [json.dumps(r) for r in result]


def get_bootstrap_dependencies(bootstrap_parts: List[api.BootstrapPart]) -> List[str]:
    if bootstrap_parts is None:
        return []
    deps = []
    for part in bootstrap_parts:
        start = part.query.startPartition if part.query is not None else None
        end = part.query.endPartition if part.query is not None else None
        deps.append(wait_for_simple_schema(part.table, 0, start, end, query=part.query))
    return [json.dumps(d) for d in deps]


def get_label_table_dependencies(label_part) -> List[str]:
    deps = [dep
            for label in label_part.labels
            for source in label.groupBy.sources
            for dep in get_dependencies(src=source, meta_data=label.groupBy.metaData)]
    deps.append(json.dumps({"name": "wait_for_{{ join_backfill_table }}",
                            "spec": "{{ join_backfill_table }}/ds={{ ds }}"}))
    return deps


def dedupe_in_order(seq):
    seen = set()
    out = []
    for x in seq:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def has_topic(group_by: api.GroupBy) -> bool:
    return any((s.entities and s.entities.mutationTopic) or (s.events and s.events.topic)
               for s in group_by.sources)


def get_offline_schedule(conf) -> Optional[str]:
    schedule = conf.metaData.offlineSchedule or "@daily"
    return None if schedule == "@never" else schedule


def requires_log_flattening_task(conf) -> bool:
    return (conf.metaData.samplePercent or 0) > 0


def get_modes_tables(conf) -> Dict[str, List[str]]:
    """Mode -> tables it writes, for --table-display and schedulers."""
    table_name = output_table_name(conf, full_name=bool(conf.metaData.name))
    tables = {}
    if isinstance(conf, api.GroupBy):
        if conf.backfillStartDate is not None:
            tables[Modes.backfill] = [table_name]
        if conf.metaData.online:
            tables[Modes.upload] = [f"{table_name}_upload"]
            # Chronon's test reads accuracy truthily, so TEMPORAL (0) alone does not add
            # streaming; a topic does.
            if conf.accuracy or has_topic(conf):
                tables[Modes.streaming] = None
    elif isinstance(conf, api.Join):
        if get_offline_schedule(conf) is not None:
            tables[Modes.backfill] = [table_name]
            tables[Modes.stats_summary] = [f"{table_name}_daily_stats"]
        if conf.metaData.customJson is not None and json.loads(conf.metaData.customJson).get("check_consistency") is True:
            tables[Modes.consistency_metrics_compute] = [f"{table_name}_consistency"]
        if requires_log_flattening_task(conf):
            tables[Modes.log_flattener] = [f"{table_name}_logged"]
        if conf.labelPart is not None:
            tables[Modes.label_join] = [f"{table_name}_labels", f"{table_name}_labeled",
                                        f"{table_name}_labeled_latest"]
        if conf.bootstrapParts or get_offline_schedule(conf) is not None:
            tables[SubStage.bootstrap] = [f"{table_name}_bootstrap"]
        if conf.joinParts:
            tables[SubStage.join_parts] = [join_part_output_table_name(conf, jp) for jp in conf.joinParts]
    elif isinstance(conf, api.StagingQuery):
        tables[Modes.backfill] = [table_name]
    else:
        raise ValueError(f"Unsupported job type {type(conf).__name__}")
    return tables


def get_applicable_modes(conf) -> List[str]:
    return [m for m in get_modes_tables(conf) if m not in (SubStage.bootstrap, SubStage.join_parts)]


def get_related_table_names(conf, skip_join_parts=True) -> List[str]:
    out = []
    for mode, tables in get_modes_tables(conf).items():
        if skip_join_parts and mode == SubStage.join_parts:
            continue
        if tables:
            out.extend(tables)
    return out


def get_config_path(join_name: str) -> str:
    assert "." in join_name, f"Invalid join name: {join_name}"
    team_name, config_name = join_name.split(".", 1)
    return f"production/joins/{team_name}/{config_name}"


def get_max_window_for_gb_in_days(group_by: api.GroupBy) -> int:
    result = 1
    for agg in group_by.aggregations or []:
        for window in agg.windows or []:
            if window.timeUnit == api.TimeUnit.HOURS:
                result = max(result, int(ceil(window.length / 24)))
            elif window.timeUnit == api.TimeUnit.DAYS:
                result = max(result, window.length)
            else:
                raise ValueError(f"Unsupported time unit {window.timeUnit}.")
    return result
