"""Join DSL: a left source enriched with GroupBy features (JoinParts), external parts,
bootstraps, labels and derivations."""

import copy
import importlib
import json
import logging
from collections import Counter
from typing import Dict, List, Optional, Tuple

import ai.chronon.api.ttypes as api
import ai.chronon.repo.extract_objects as eo
import ai.chronon.utils as utils
from ai.chronon.group_by import validate_group_by

logging.basicConfig(level=logging.INFO)


def _auto_set_group_by_name(group_by: api.GroupBy) -> None:
    """Names a GroupBy from the group_bys.* module that holds it; an inline GroupBy (defined
    elsewhere) must carry an explicit name."""
    module_name = utils.get_mod_name_from_gc(group_by, "group_bys")
    if module_name:
        eo.import_module_set_name(importlib.import_module(module_name), api.GroupBy)
    elif not group_by.metaData.name:
        logging.error("No group_by file or custom group_by name found")
        raise ValueError(
            "[GroupBy] Must specify a group_by name if group_by is not defined in separate file. "
            "You may pass it in via GroupBy.name. \n")


def JoinPart(
    group_by: api.GroupBy,
    key_mapping: Optional[Dict[str, str]] = None,
    prefix: Optional[str] = None,
    tags: Optional[Dict[str, str]] = None,
) -> api.JoinPart:
    """Joins `group_by` to the left: key_mapping is {left column: group by key}; prefix is
    prepended to the part's output columns."""
    _auto_set_group_by_name(group_by)
    if key_mapping:
        utils.check_contains(key_mapping.values(), group_by.keyColumns, "key", group_by.metaData.name)
    join_part = api.JoinPart(groupBy=group_by, keyMapping=key_mapping, prefix=prefix)
    join_part.tags = tags
    return join_part


FieldsType = List[Tuple[str, api.TDataType]]


class DataType:
    """Schema helpers for external sources."""

    BOOLEAN = api.TDataType(api.DataKind.BOOLEAN)
    SHORT = api.TDataType(api.DataKind.SHORT)
    INT = api.TDataType(api.DataKind.INT)
    LONG = api.TDataType(api.DataKind.LONG)
    FLOAT = api.TDataType(api.DataKind.FLOAT)
    DOUBLE = api.TDataType(api.DataKind.DOUBLE)
    STRING = api.TDataType(api.DataKind.STRING)
    BINARY = api.TDataType(api.DataKind.BINARY)

    def MAP(key_type: api.TDataType, value_type: api.TDataType) -> api.TDataType:
        assert key_type == api.TDataType(api.DataKind.STRING), "key_type has to STRING for MAP types"
        return api.TDataType(api.DataKind.MAP,
                             params=[api.DataField("key", key_type), api.DataField("value", value_type)])

    def LIST(elem_type: api.TDataType) -> api.TDataType:
        return api.TDataType(api.DataKind.LIST, params=[api.DataField("elem", elem_type)])

    def STRUCT(name: str, *fields: FieldsType) -> api.TDataType:
        return api.TDataType(api.DataKind.STRUCT,
                             params=[api.DataField(n, t) for (n, t) in fields], name=name)


def ExternalSource(
    name: str,
    team: str,
    key_fields: FieldsType,
    value_fields: FieldsType,
    custom_json: Optional[str] = None,
    factory_name: Optional[str] = None,
    factory_params: Optional[Dict[str, str]] = None,
    offline_group_by: Optional[api.GroupBy] = None,
) -> api.ExternalSource:
    """An online-only source served by a registered handler; schemas become STRUCTs named
    ext_<name>_keys / ext_<name>_values."""
    assert name != "contextual", "Please use `ContextualSource`"
    if offline_group_by is not None:
        _auto_set_group_by_name(offline_group_by)
    factory_config = None
    if factory_name is not None or factory_params is not None:
        factory_config = api.ExternalSourceFactoryConfig(factoryName=factory_name, factoryParams=factory_params)
    return api.ExternalSource(
        metadata=api.MetaData(name=name, team=team, customJson=custom_json),
        keySchema=DataType.STRUCT(f"ext_{name}_keys", *key_fields),
        valueSchema=DataType.STRUCT(f"ext_{name}_values", *value_fields),
        factoryConfig=factory_config,
        offlineGroupBy=offline_group_by,
    )


def ContextualSource(fields: FieldsType, team="default") -> api.ExternalSource:
    """Request-context values passed through for logging (no external call)."""
    return api.ExternalSource(
        metadata=api.MetaData(name="contextual", team=team),
        keySchema=DataType.STRUCT("contextual_keys", *fields),
        valueSchema=DataType.STRUCT("contextual_values", *fields),
    )


def ExternalPart(source: api.ExternalSource, key_mapping: Optional[Dict[str, str]] = None,
                 prefix: Optional[str] = None) -> api.ExternalPart:
    return api.ExternalPart(source=source, keyMapping=key_mapping, prefix=prefix)


def LabelPart(labels: List[api.JoinPart], left_start_offset: int, left_end_offset: int,
              label_offline_schedule: str = "@daily") -> api.LabelPart:
    """Labels joined to the left rows between label_ds - left_start_offset and
    label_ds - left_end_offset.  With aggregations: one part, one aggregation, one DAYS window,
    and both offsets equal to the window length."""
    for label in labels:
        if label.groupBy.aggregations is not None:
            assert len(labels) == 1, "Multiple label joinPart is not supported yet"
            aggs = label.groupBy.aggregations
            valid_agg = len(aggs) == 1 and aggs[0].windows is not None and len(aggs[0].windows) == 1
            assert valid_agg, "Too many aggregations or invalid windows found. Single aggregation with one window allowed."
            assert aggs[0].windows[0].timeUnit == api.TimeUnit.DAYS, "Label aggregation window unit must be DAYS"
            window_size = aggs[0].windows[0].length
            assert left_start_offset == window_size and left_end_offset == window_size, (
                f"left_start_offset and left_end_offset must both equal the label aggregation window "
                f"({window_size} days)")
    return api.LabelPart(labels=labels, leftStartOffset=left_start_offset, leftEndOffset=left_end_offset,
                         metaData=api.MetaData(offlineSchedule=label_offline_schedule))


def Derivation(name: str, expression: str, description: Optional[str] = None) -> api.Derivation:
    """Output column `name` = Spark SQL `expression` over join part / external columns; "*"
    keeps every base column not renamed by another derivation."""
    metadata = api.MetaData(description=description) if description else None
    return api.Derivation(name=name, expression=expression, metaData=metadata)


def BootstrapPart(table: str, key_columns: Optional[List[str]] = None,
                  query: Optional[api.Query] = None) -> api.BootstrapPart:
    """Pre-computed values read from `table` instead of backfilling (keys default to row_ids)."""
    return api.BootstrapPart(table=table, query=query, keyColumns=key_columns)


def validate_left_source(source: api.Source):
    if source.events and source.events.isCumulative:
        raise ValueError(
            "Using EventSource with isCumulative=True as Left source in Joins is NOT supported by Chronon now. "
            "You can use either EntitySource or EventSource with isCumulative=False.")
    if source.joinSource:
        raise ValueError(
            "Using JoinSource as Left source in Joins is NOT supported by Chronon now. "
            "For offline-only use case, you can directly depend on the Join's output table.")


def Join(
    left: api.Source,
    right_parts: List[api.JoinPart],
    check_consistency: bool = False,
    additional_args: Optional[List[str]] = None,
    additional_env: Optional[List[str]] = None,
    dependencies: Optional[List[str]] = None,
    online: bool = False,
    production: bool = False,
    output_namespace: Optional[str] = None,
    table_properties: Optional[Dict[str, str]] = None,
    env: Optional[Dict[str, Dict[str, str]]] = None,
    lag: int = 0,
    skew_keys: Optional[Dict[str, List[str]]] = None,
    sample_percent: Optional[float] = None,
    consistency_sample_percent: float = 5.0,
    online_external_parts: Optional[List[api.ExternalPart]] = None,
    offline_schedule: str = "@daily",
    historical_backfill: Optional[bool] = None,
    row_ids: Optional[List[str]] = None,
    bootstrap_parts: Optional[List[api.BootstrapPart]] = None,
    bootstrap_from_log: bool = False,
    label_part: Optional[api.LabelPart] = None,
    derivations: Optional[List[api.Derivation]] = None,
    deprecation_date: Optional[str] = None,
    tags: Optional[Dict[str, str]] = None,
    description: Optional[str] = None,
    model_transforms: Optional[api.ModelTransforms] = None,
    **kwargs,
) -> api.Join:
    """Builds a Join.  Extra keyword arguments go into metaData.customJson."""
    if not isinstance(left, api.Source):
        raise TypeError(f"Join left: expected a Source, got {type(left).__name__}")
    validate_left_source(left)

    # deep copy: several joins may share one left source and `ts` is added below
    updated_left = copy.deepcopy(left)
    if left.events and left.events.query.selects:
        assert "ts" not in left.events.query.selects.keys(), (
            "'ts' is a reserved key word for Chronon, please specify the expression in timeColumn")
        updated_left.events.query.selects.update({"ts": updated_left.events.query.timeColumn})

    left_dependencies = utils.get_dependencies(left, dependencies, lag=lag)
    right_dependencies = [
        dep
        for jp in right_parts
        for source in jp.groupBy.sources
        for dep in utils.get_dependencies(source, dependencies, jp.groupBy.metaData, lag=lag)
    ]

    if label_part:
        label_dependencies = utils.get_label_table_dependencies(label_part)
        label_part = api.LabelPart(
            labels=label_part.labels,
            leftStartOffset=label_part.leftStartOffset,
            leftEndOffset=label_part.leftEndOffset,
            metaData=api.MetaData(dependencies=utils.dedupe_in_order(left_dependencies + label_dependencies),
                                  offlineSchedule=label_part.metaData.offlineSchedule),
        )

    custom_json = {"check_consistency": check_consistency, "lag": lag}
    if additional_args:
        custom_json["additional_args"] = additional_args
    if additional_env:
        custom_json["additional_env"] = additional_env
    custom_json.update(kwargs)
    custom_json["join_tags"] = tags
    join_part_tags = {}
    for jp in right_parts:
        if getattr(jp, "tags", None):
            join_part_tags["{}{}".format(jp.prefix + "_" if jp.prefix else "", jp.groupBy.metaData.name)] = jp.tags
        validate_group_by(jp.groupBy)
    custom_json["join_part_tags"] = join_part_tags

    consistency_sample_percent = consistency_sample_percent if check_consistency else None

    if online_external_parts:
        counts = Counter((part.prefix, part.source.metadata.name) for part in online_external_parts)
        duplicates = [(key, count) for key, count in counts.items() if count > 1]
        for key, count in duplicates:
            print(f"Found {count - 1} duplicate(s) for external part {key}")
        assert not duplicates, "Please address all the above mentioned duplicates."

    if bootstrap_from_log:
        has_logging = sample_percent is not None and sample_percent > 0 and online
        assert has_logging, "Join must be online with sample_percent set in order to use bootstrap_from_log option"
        # the table is filled in by compile once the join has its name
        bootstrap_parts = (bootstrap_parts or []) + [api.BootstrapPart(table="{{ logged_table }}")]

    bootstrap_dependencies = [] if dependencies is not None else utils.get_bootstrap_dependencies(bootstrap_parts)

    metadata = api.MetaData(
        online=online,
        production=production,
        customJson=json.dumps(custom_json),
        dependencies=utils.dedupe_in_order(left_dependencies + right_dependencies + bootstrap_dependencies),
        outputNamespace=output_namespace,
        tableProperties=table_properties,
        modeToEnvMap=env,
        samplePercent=sample_percent,
        offlineSchedule=offline_schedule,
        consistencySamplePercent=consistency_sample_percent,
        historicalBackfill=historical_backfill,
        deprecationDate=deprecation_date,
        description=description,
    )
    return api.Join(
        left=updated_left,
        joinParts=right_parts,
        metaData=metadata,
        skewKeys=skew_keys,
        onlineExternalParts=online_external_parts,
        bootstrapParts=bootstrap_parts,
        rowIds=row_ids,
        labelPart=label_part,
        derivations=derivations,
        modelTransforms=model_transforms,
    )
