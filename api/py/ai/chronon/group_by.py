"""GroupBy DSL: aggregations of a source's rows by key, with windows, buckets and derivations."""

import json
import logging
import sys
from typing import Dict, List, Optional, Tuple, Union

import ai.chronon.api.ttypes as ttypes
import ai.chronon.utils as utils

OperationType = int

DEFAULT_ONLINE = None
DEFAULT_PRODUCTION = None
LOGGER = logging.getLogger()


def collector(op):
    """Operation taking one argument `k`: OP(k) -> (op, {"k": str(k)})."""
    return lambda k: (op, {"k": str(k)})


def generic_collector(op, required, **defaults):
    """Operation with named arguments; defaults first, then required positionals, then keywords,
    every value stringified."""
    def _collector(*args, **other_args):
        arguments = dict(defaults)
        for idx, arg in enumerate(required):
            arguments[arg] = args[idx]
        arguments.update(other_args)
        return (op, {k: str(v) for k, v in arguments.items()})

    return _collector


class Accuracy(ttypes.Accuracy):
    pass


class Operation:
    MIN = ttypes.Operation.MIN
    MAX = ttypes.Operation.MAX
    FIRST = ttypes.Operation.FIRST
    LAST = ttypes.Operation.LAST
    APPROX_UNIQUE_COUNT = ttypes.Operation.APPROX_UNIQUE_COUNT
    APPROX_UNIQUE_COUNT_LGK = collector(ttypes.Operation.APPROX_UNIQUE_COUNT)
    UNIQUE_COUNT = ttypes.Operation.UNIQUE_COUNT
    BOUNDED_UNIQUE_COUNT_K = collector(ttypes.Operation.BOUNDED_UNIQUE_COUNT)
    COUNT = ttypes.Operation.COUNT
    SUM = ttypes.Operation.SUM
    AVERAGE = ttypes.Operation.AVERAGE
    VARIANCE = ttypes.Operation.VARIANCE
    SKEW = ttypes.Operation.SKEW
    KURTOSIS = ttypes.Operation.KURTOSIS
    HISTOGRAM = ttypes.Operation.HISTOGRAM
    HISTOGRAM_K = collector(ttypes.Operation.HISTOGRAM)
    APPROX_HISTOGRAM_K = collector(ttypes.Operation.APPROX_HISTOGRAM_K)
    FIRST_K = collector(ttypes.Operation.FIRST_K)
    LAST_K = collector(ttypes.Operation.LAST_K)
    TOP_K = collector(ttypes.Operation.TOP_K)
    BOTTOM_K = collector(ttypes.Operation.BOTTOM_K)
    APPROX_PERCENTILE = generic_collector(ttypes.Operation.APPROX_PERCENTILE, ["percentiles"], k=128)


class TimeUnit:
    HOURS = ttypes.TimeUnit.HOURS
    DAYS = ttypes.TimeUnit.DAYS


def Aggregations(**agg_dict):
    """Aggregations(name=Aggregation(...)): a missing input column defaults to the keyword."""
    assert all(isinstance(agg, ttypes.Aggregation) for agg in agg_dict.values())
    for key, agg in agg_dict.items():
        if not agg.inputColumn:
            agg.inputColumn = key
    return agg_dict.values()


def DefaultAggregation(keys, sources, operation=Operation.LAST, tags=None):
    """One `operation` aggregation per selected column that is not a key or a reserved column."""
    columns_out = []
    for source in sources:
        query = utils.get_query(source)
        skip = keys + ["ts", "is_before", "mutation_ts", "ds", query.timeColumn]
        columns_out += [c for c in utils.get_columns(source) if c not in skip]
    return [Aggregation(operation=operation, input_column=c, tags=tags) for c in columns_out]


def window_to_str_pretty(window: ttypes.Window):
    return f"{window.length} {ttypes.TimeUnit._VALUES_TO_NAMES[window.timeUnit].lower()}"


def op_to_str(operation: OperationType):
    return ttypes.Operation._VALUES_TO_NAMES[operation].lower()


def Aggregation(
    input_column: str = None,
    operation=None,
    windows: Optional[List[ttypes.Window]] = None,
    buckets: Optional[List[str]] = None,
    tags: Optional[Dict[str, str]] = None,
    element_wise: Optional[bool] = None,
) -> ttypes.Aggregation:
    """One aggregation: `operation` (default LAST, or a parameterised op such as LAST_K(10)) of
    `input_column`, once per window (unwindowed when none) and per bucket column."""
    operation = operation if operation is not None else Operation.LAST
    arg_map = {}
    if isinstance(operation, tuple):
        operation, arg_map = operation[0], operation[1]
    if operation == ttypes.Operation.UNIQUE_COUNT:
        LOGGER.warning("When using UNIQUE_COUNT operation, please consider using BOUNDED_UNIQUE_COUNT_K or "
                       "APPROX_UNIQUE_COUNT for better performance and scalability.")
    elif operation == ttypes.Operation.HISTOGRAM:
        LOGGER.warning("When using HISTOGRAM operation, please consider using APPROX_HISTOGRAM_K for better "
                       "performance and bounded memory usage.")
    agg = ttypes.Aggregation(input_column, operation, arg_map, windows, buckets)
    agg.tags = tags
    agg.elementWise = element_wise
    return agg


def Window(length: int, timeUnit: ttypes.TimeUnit) -> ttypes.Window:
    return ttypes.Window(length, timeUnit)


def Derivation(name: str, expression: str, description: Optional[str] = None) -> ttypes.Derivation:
    """Output column `name` = Spark SQL `expression` over the pre-derivation columns; name and
    expression "*" keep every base column not renamed by another derivation."""
    metadata = ttypes.MetaData(description=description) if description else None
    return ttypes.Derivation(name=name, expression=expression, metaData=metadata)


def contains_windowed_aggregation(aggregations):
    return any(agg.windows for agg in aggregations or [])


def validate_group_by(group_by: ttypes.GroupBy):
    """Construction-time checks of a GroupBy (AssertionError / ValueError on violation)."""
    sources = group_by.sources
    keys = group_by.keyColumns
    aggregations = group_by.aggregations
    first_source_columns = set(utils.get_columns(sources[0]))
    assert "ts" not in first_source_columns, (
        "'ts' is a reserved key word for Chronon, please specify the expression in timeColumn")
    for src in sources:
        query = utils.get_query(src)
        if src.events:
            assert query.mutationTimeColumn is None, (
                "ingestionTimeColumn should not be specified for event source as it should be the same with "
                "timeColumn")
            assert query.reversalColumn is None, (
                "reversalColumn should not be specified for event source as it won't have mutations")
            if group_by.accuracy != Accuracy.SNAPSHOT:
                assert query.timeColumn is not None, (
                    "please specify query.timeColumn for non-snapshot accurate group by with event source")
            else:
                assert not utils.is_streaming(src), "SNAPSHOT accuracy should not be specified for streaming sources"
        elif src.joinSource:
            parent_join = src.joinSource.join
            parent_left = parent_join.left if parent_join else None
            assert parent_left and utils.is_streaming(parent_left), (
                "When using a JoinSource as the source for a GroupBy, the parent join must have a topic. "
                "Set events.topic (EventSource) or entities.mutationTopic (EntitySource) on the parent join's "
                "left source, or read the parent join's output table with a regular EventSource/EntitySource "
                "(see get_join_output_table_name).")
        else:
            if contains_windowed_aggregation(aggregations):
                assert query.timeColumn, "Please specify timeColumn for entity source with windowed aggregations"

    if group_by.isIncremental:
        assert all(s.events for s in sources), "is_incremental is only supported for event sources"
        is_snapshot = group_by.accuracy == Accuracy.SNAPSHOT or (
            group_by.accuracy is None and not any(utils.is_streaming(s) for s in sources))
        assert is_snapshot, "is_incremental is only supported for SNAPSHOT accuracy group bys"

    column_set = None
    for i, source in enumerate(sources[1:]):
        column_set = set(utils.get_columns(source))
        column_diff = column_set ^ first_source_columns
        assert not column_diff, f"\nMismatched columns among sources [1, {i + 2}], Difference: {column_diff}\n"

    unselected_keys = set(keys) - first_source_columns
    assert not unselected_keys, f"\nKeys {unselected_keys}, are unselected in source\n"

    if aggregations is None:
        is_events = any(s.events for s in sources)
        has_mutations = False if is_events else any(
            (s.entities.mutationTable is not None or s.entities.mutationTopic is not None)
            for s in sources if s.entities is not None)
        assert not (is_events or has_mutations), (
            "You can only set aggregations=None in an EntitySource without mutations")
        return
    columns = set(c for src in sources for c in utils.get_columns(src))
    for agg in aggregations:
        assert agg.inputColumn, (
            f"input_column is required for all operations, found: input_column = {agg.inputColumn} "
            f"and operation {op_to_str(agg.operation)}")
        assert (agg.inputColumn in columns) or (agg.inputColumn == "ts"), (
            f"input_column: for aggregation is not part of the query. Available columns: {column_set} "
            f"input_column: {agg.inputColumn}")
        if agg.operation == ttypes.Operation.APPROX_PERCENTILE:
            if agg.argMap is not None and agg.argMap.get("percentiles") is not None:
                try:
                    percentiles = json.loads(agg.argMap["percentiles"])
                    assert isinstance(percentiles, list)
                    assert all(0 <= float(p) <= 1 for p in percentiles)
                except Exception:
                    raise ValueError(
                        "[Percentiles] Unable to decode percentiles value, expected json array with values between"
                        f" 0 and 1 inclusive (ex: [0.6, 0.1]), received: {agg.argMap['percentiles']}")
            else:
                raise ValueError(
                    f"[Percentiles] Unsupported arguments for {op_to_str(agg.operation)}, "
                    "example required: {'k': '128', 'percentiles': '[0.4,0.5,0.95]'},"
                    f" received: {agg.argMap}\n")
        if agg.windows:
            snapshot = (group_by.accuracy and group_by.accuracy == Accuracy.SNAPSHOT) or group_by.backfillStartDate
            assert not (snapshot and any(w.timeUnit == TimeUnit.HOURS for w in agg.windows)), (
                "Detected a snapshot accuracy group by with an hourly aggregation. Resolution with snapshot "
                "accuracy is not fine enough to allow hourly group bys. Consider removing the `backfill start "
                "date` param if set or adjusting the aggregation window. "
                f"input_column: {agg.inputColumn}, windows: {agg.windows}")


def _get_op_suffix(operation, argmap):
    op_str = op_to_str(operation)
    if operation in (ttypes.Operation.LAST_K, ttypes.Operation.TOP_K, ttypes.Operation.FIRST_K,
                     ttypes.Operation.BOTTOM_K):
        return "{}{}".format(op_str[:-2], argmap.get("k"))
    return op_str


def get_output_col_names(aggregation):
    """Output columns of one aggregation: <input>_<op>[_<window>][_by_<bucket>], bucket-major."""
    base = f"{aggregation.inputColumn}_{_get_op_suffix(aggregation.operation, aggregation.argMap)}"
    if aggregation.windows:
        names = []
        for window in aggregation.windows:
            unit = ttypes.TimeUnit._VALUES_TO_NAMES[window.timeUnit].lower()[0]
            names.append(f"{base}_{window.length}{unit}")
    else:
        names = [base]
    if aggregation.buckets:
        return [f"{n}_by_{b}" for b in aggregation.buckets for n in names]
    return names


def _normalize_source(source):
    if isinstance(source, ttypes.EventSource):
        return ttypes.Source(events=source)
    if isinstance(source, ttypes.EntitySource):
        return ttypes.Source(entities=source)
    if isinstance(source, ttypes.JoinSource):
        return ttypes.Source(joinSource=source)
    if isinstance(source, ttypes.Source):
        return source
    raise TypeError(f"GroupBy sources: expected Source, EventSource, EntitySource or JoinSource, "
                    f"got {type(source).__name__} {source!r:.200}")


def GroupBy(
    sources,
    keys: List[str],
    aggregations: Optional[List[ttypes.Aggregation]],
    online: Optional[bool] = DEFAULT_ONLINE,
    production: Optional[bool] = DEFAULT_PRODUCTION,
    backfill_start_date: Optional[str] = None,
    dependencies: Optional[List[str]] = None,
    env: Optional[Dict[str, Dict[str, str]]] = None,
    table_properties: Optional[Dict[str, str]] = None,
    output_namespace: Optional[str] = None,
    accuracy: Optional[int] = None,
    lag: int = 0,
    offline_schedule: str = "@daily",
    name: Optional[str] = None,
    tags: Optional[Dict[str, str]] = None,
    derivations: Optional[List[ttypes.Derivation]] = None,
    historical_backfill: Optional[bool] = None,
    deprecation_date: Optional[str] = None,
    description: Optional[str] = None,
    is_incremental: Optional[bool] = None,
    **kwargs,
) -> ttypes.GroupBy:
    """Builds and validates a GroupBy.  Keys and aggregation inputs missing from a source's
    selects are added (col -> col); a `ts` select becomes the query's timeColumn.  Extra keyword
    arguments go into metaData.customJson.  online/production None means "inherit from the
    joins that use it"."""
    assert sources, "Sources are not specified"
    if historical_backfill is not None:
        assert backfill_start_date is not None, (
            "historical_backfill can only be set when backfill_start_date is specified.")

    agg_inputs = [agg.inputColumn for agg in aggregations] if aggregations is not None else []
    required_columns = keys + agg_inputs

    def _sanitize_columns(source):
        query = utils.get_query(source)
        if query.selects is None:
            query.selects = {}
        for col in required_columns:
            # a missing input column (None) is reported by validate_group_by; adding it would
            # poison a source shared with other configs
            if col is not None and col not in query.selects:
                query.selects[col] = col
        if "ts" in query.selects:
            ts = query.selects.pop("ts")
            if query.timeColumn is None:
                query.timeColumn = ts
            assert query.timeColumn == ts, (
                f"mismatched `ts`: {ts} and `timeColumn`: {query.timeColumn} "
                "in source {source}. Please specify only the `timeColumn`")
        return source

    if not isinstance(sources, list):
        sources = [sources]
    sources = [_sanitize_columns(_normalize_source(s)) for s in sources]

    deps = [dep for src in sources for dep in utils.get_dependencies(src, dependencies, lag=lag)]

    kwargs.update({"lag": lag})
    # team defaults to the directory of the file calling GroupBy(); compile overrides it
    caller_path = sys._getframe(1).f_code.co_filename.split("/")
    team = caller_path[-2] if len(caller_path) > 1 else None

    column_tags = {}
    for agg in aggregations or []:
        if getattr(agg, "tags", None):
            for output_col in get_output_col_names(agg):
                column_tags[output_col] = agg.tags
    kwargs.update({"groupby_tags": tags, "column_tags": column_tags})

    metadata = ttypes.MetaData(
        name=name,
        online=online,
        production=production,
        outputNamespace=output_namespace,
        customJson=json.dumps(kwargs),
        dependencies=deps,
        modeToEnvMap=env,
        tableProperties=table_properties,
        team=team,
        offlineSchedule=offline_schedule,
        historicalBackfill=historical_backfill,
        deprecationDate=deprecation_date,
        description=description,
    )
    group_by = ttypes.GroupBy(
        sources=sources,
        keyColumns=keys,
        aggregations=aggregations,
        metaData=metadata,
        backfillStartDate=backfill_start_date,
        accuracy=accuracy,
        derivations=derivations,
        isIncremental=is_incremental,
    )
    validate_group_by(group_by)
    return group_by
