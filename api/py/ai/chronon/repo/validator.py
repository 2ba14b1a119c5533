"""Checks a config against the already-compiled repo (production/) before it is written:
skip rules, online/production consistency with including joins, derivations, deprecation
dates, and the guard against changing an online conf.  Also computes output column lists."""

import json
import logging
import os
import re
from collections import defaultdict
from typing import Dict, List

from ai.chronon.api.ttypes import Derivation, ExternalPart, GroupBy, Join, Source, StagingQuery
from ai.chronon.group_by import get_output_col_names
from ai.chronon.logger import get_logger
from ai.chronon.repo import GROUP_BY_FOLDER_NAME, JOIN_FOLDER_NAME
from ai.chronon.repo.serializer import file2thrift, thrift_simple_json
from ai.chronon.utils import FeatureDisplayKeys

SKIPPED_FIELDS = frozenset(["metaData"])
EXTERNAL_KEY = "onlineExternalParts"


def _filter_skipped_fields_from_join(json_obj: Dict, skipped_fields):
    for join_part in json_obj.get("joinParts", []):
        for field in skipped_fields:
            join_part["groupBy"].pop(field, None)
    json_obj.pop(EXTERNAL_KEY, None)


def is_valid_conf(conf) -> bool:
    return conf.metaData is not None


def extract_json_confs(obj_class: type, path: str) -> List[object]:
    """Every compiled conf under `path` (a file or a folder walked recursively; dot files are
    ignored, so are temp files of an interrupted write)."""
    if os.path.isfile(path):
        conf = file2thrift(path, obj_class)
        return [conf] if is_valid_conf(conf) else []
    result = []
    for sub_root, sub_dirs, sub_files in os.walk(path):
        sub_dirs.sort()
        for f in sorted(sub_files):
            if not f.startswith("."):
                obj = file2thrift(os.path.join(sub_root, f), obj_class)
                if is_valid_conf(obj):
                    result.append(obj)
    return result


def is_batch_upload_needed(group_by: GroupBy) -> bool:
    return bool(group_by.metaData.online or group_by.backfillStartDate)


def is_identifier(s: str) -> bool:
    return re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", s) is not None


def get_pre_derived_source_keys(source: Source) -> List[str]:
    if source.events:
        return list(source.events.query.selects.keys())
    if source.entities:
        return list(source.entities.query.selects.keys())
    if source.joinSource:
        return list(source.joinSource.query.selects.keys())
    return []


def get_pre_derived_group_by_features(group_by: GroupBy) -> List[str]:
    out = []
    if group_by.aggregations:
        for agg in group_by.aggregations:
            out.extend(get_output_col_names(agg))
    else:
        for source in group_by.sources:
            out.extend(get_pre_derived_source_keys(source))
    return out


def get_pre_derived_group_by_columns(group_by: GroupBy) -> List[str]:
    return get_pre_derived_group_by_features(group_by) + list(group_by.keyColumns)


def get_group_by_output_columns(group_by: GroupBy) -> List[str]:
    columns = get_pre_derived_group_by_columns(group_by)
    return build_derived_columns(columns, group_by.derivations) if group_by.derivations else columns


def get_pre_derived_join_internal_features(join: Join) -> List[str]:
    out = []
    for jp in join.joinParts:
        features = build_derived_columns(get_pre_derived_group_by_features(jp.groupBy), jp.groupBy.derivations)
        prefix = jp.prefix + "_" if jp.prefix else ""
        gb_prefix = jp.groupBy.metaData.name.replace(".", "_")
        out.extend(prefix + gb_prefix + "_" + col for col in features)
    return out


def get_external_part_full_name(external_part: ExternalPart) -> str:
    prefix = external_part.prefix + "_" if external_part.prefix else ""
    return "ext_" + prefix + re.sub("[^a-zA-Z0-9_]", "_", external_part.source.metadata.name)


def get_pre_derived_external_features(join: Join) -> List[str]:
    out = []
    for part in join.onlineExternalParts or []:
        prefix = get_external_part_full_name(part) + "_"
        out.extend(prefix + param.name for param in part.source.valueSchema.params)
    return out


def get_pre_derived_join_features(join: Join) -> Dict[FeatureDisplayKeys, List[str]]:
    return {
        FeatureDisplayKeys.INTERNAL_COLUMNS: get_pre_derived_join_internal_features(join),
        FeatureDisplayKeys.EXTERNAL_COLUMNS: get_pre_derived_external_features(join),
    }


def build_derived_columns(pre_derived_columns: List[str], derivations: List[Derivation]) -> List[str]:
    """Output columns after derivations: names in order, "*" expanding to every base column
    that no derivation uses verbatim as its expression."""
    if not derivations:
        return pre_derived_columns
    expressions = {d.expression for d in derivations}
    wildcard = [c for c in pre_derived_columns if c not in expressions] \
        if any(d.expression == "*" for d in derivations) else []
    out = []
    for d in derivations:
        if d.name == "*":
            out.extend(wildcard)
        else:
            out.append(d.name)
    return out


def get_join_key_columns(join: Join) -> List[str]:
    """Left columns used as join keys (right keys mapped through keyMapping)."""
    candidates = []
    for jp in join.joinParts:
        right_to_left = {v: k for k, v in (jp.keyMapping or {}).items()}
        candidates.extend(right_to_left.get(k, k) for k in jp.groupBy.keyColumns)
    left_columns = get_pre_derived_source_keys(join.left)
    seen = []
    for key in candidates:
        if key in left_columns and key not in seen:
            seen.append(key)
    return seen


def get_join_output_columns(join: Join) -> Dict[FeatureDisplayKeys, List[str]]:
    columns = {FeatureDisplayKeys.KEY_COLUMNS: get_join_key_columns(join),
               FeatureDisplayKeys.LEFT_COLUMNS: get_pre_derived_source_keys(join.left)}
    pre_derived = get_pre_derived_join_features(join)
    columns.update(pre_derived)
    flat = [c for values in pre_derived.values() for c in values]
    if join.derivations:
        columns[FeatureDisplayKeys.DERIVED_COLUMNS] = build_derived_columns(flat, join.derivations)
        columns[FeatureDisplayKeys.OUTPUT_COLUMNS] = columns[FeatureDisplayKeys.DERIVED_COLUMNS]
    else:
        columns[FeatureDisplayKeys.OUTPUT_COLUMNS] = flat
    return columns


class ChrononRepoValidator(object):
    def __init__(self, chronon_root_path: str, output_root: str, log_level=logging.INFO):
        self.logger = get_logger(log_level)
        self.old_objs = defaultdict(list)
        self.chronon_root_path = chronon_root_path
        self.output_root = output_root
        self.log_level = log_level
        self.load_objs()

    def load_objs(self):
        base = os.path.join(self.chronon_root_path, self.output_root)
        self.old_group_bys = extract_json_confs(GroupBy, os.path.join(base, GROUP_BY_FOLDER_NAME))
        self.old_joins = extract_json_confs(Join, os.path.join(base, JOIN_FOLDER_NAME))
        self.old_objs["GroupBy"] = self.old_group_bys
        self.old_objs["Join"] = self.old_joins

    def _get_old_obj(self, obj_class: type, obj_name: str):
        return next((x for x in self.old_objs[obj_class.__name__] if x.metaData and x.metaData.name == obj_name),
                    None)

    def _get_old_joins_with_group_by(self, group_by: GroupBy) -> List[Join]:
        return [j for j in self.old_joins
                if j.joinParts is not None and group_by.metaData.name in [p.groupBy.metaData.name for p in j.joinParts]]

    def can_skip_materialize(self, obj) -> List[str]:
        """Reasons not to write `obj` (only GroupBys without upload or backfill are skipped)."""
        if isinstance(obj, GroupBy) and not is_batch_upload_needed(obj):
            return ["GroupBys should not be materialized if batch upload job is not needed"]
        return []

    def validate_obj(self, obj) -> List[str]:
        if isinstance(obj, GroupBy):
            return self._validate_group_by(obj)
        if isinstance(obj, Join):
            return self._validate_join(obj)
        if isinstance(obj, StagingQuery):
            return self._validate_staging_query(obj)
        return []

    def _has_diff(self, obj, old_obj, skipped_fields=SKIPPED_FIELDS) -> bool:
        new_json = {k: v for k, v in json.loads(thrift_simple_json(obj)).items() if k not in skipped_fields}
        old_json = {k: v for k, v in json.loads(thrift_simple_json(old_obj)).items() if k not in skipped_fields}
        if isinstance(obj, Join):
            _filter_skipped_fields_from_join(new_json, skipped_fields)
            _filter_skipped_fields_from_join(old_json, skipped_fields)
        return new_json != old_json

    def safe_to_overwrite(self, obj) -> bool:
        """An already-compiled online conf may only be rewritten when nothing but its metadata
        (and, for joins, part metadata and external parts) changes."""
        old_obj = self._get_old_obj(type(obj), obj.metaData.name)
        return not old_obj or not self._has_diff(obj, old_obj) or not old_obj.metaData.online

    def _validate_derivations(self, key_cols: List[str], pre_derived_cols: List[str],
                              derivations: List[Derivation]) -> List[str]:
        errors = []
        wildcard = any(d.expression == "*" for d in derivations)
        derived_columns = set(pre_derived_cols) if wildcard else set()
        for d in derivations:
            if is_identifier(d.expression):
                if wildcard and d.expression in derived_columns:
                    derived_columns.remove(d.expression)
                if d.expression not in pre_derived_cols and d.expression not in ("ds", "ts"):
                    errors.append("Incorrect derivation expression {}, expression not found in pre-derived columns {}"
                                  .format(d.expression, pre_derived_cols))
            if d.name != "*":
                if d.name in derived_columns and d.name not in key_cols:
                    errors.append("Incorrect derivation name {} due to output column name conflict".format(d.name))
                else:
                    derived_columns.add(d.name)
        return errors

    def _validate_join(self, join: Join) -> List[str]:
        included = [p.groupBy for p in join.joinParts]
        offline_included = [gb.metaData.name for gb in included if not gb.metaData or gb.metaData.online is False]
        errors = []
        old_included = [gb for gb in included if self._get_old_obj(GroupBy, gb.metaData.name)]
        non_prod_old = [gb.metaData.name for gb in old_included if gb.metaData.production is False]
        group_by_errors = [self._validate_group_by(gb) for gb in included]
        errors += [f"join {join.metaData.name}'s underlying {e}" for errs in group_by_errors for e in errs]
        if join.metaData.production and non_prod_old:
            errors.append("join {} is production but includes the following non production group_bys: {}"
                          .format(join.metaData.name, ", ".join(non_prod_old)))
        if join.metaData.online and offline_included:
            errors.append("join {} is online but includes the following offline group_bys: {}"
                          .format(join.metaData.name, ", ".join(offline_included)))
        if join.metaData.deprecationDate and not re.match(r"\d{4}-\d{2}-\d{2}", join.metaData.deprecationDate):
            errors.append("Deprecation date is not in the correct format for join {}".format(join.metaData.name))
        # join derivations are only checked when every part GroupBy is valid
        if join.derivations and all(not errs for errs in group_by_errors):
            features = [c for values in get_pre_derived_join_features(join).values() for c in values]
            left_columns = get_pre_derived_source_keys(join.left)
            errors.extend(self._validate_derivations(left_columns, features + left_columns, join.derivations))
        return errors

    def _validate_staging_query(self, staging_query: StagingQuery) -> List[str]:
        errors = []
        # a non-string query is reported by the serializer (field query: expected string)
        if staging_query.createView and isinstance(staging_query.query, str):
            found = [name for name in ("start_date", "end_date")
                     if re.search(r"\{\{\s*" + name + r"\s*\}\}", staging_query.query, re.IGNORECASE)]
            if found:
                errors.append(
                    f"StagingQuery '{staging_query.metaData.name}' with createView=True cannot contain "
                    f"date templates: {', '.join(found)}. Views should contain all data and "
                    f"use partition pushdown for filtering.")
        return errors

    def _validate_group_by(self, group_by: GroupBy) -> List[str]:
        joins = self._get_old_joins_with_group_by(group_by)
        online_joins = [j.metaData.name for j in joins if j.metaData.online is True]
        prod_joins = [j.metaData.name for j in joins if j.metaData.production is True]
        errors = []
        if group_by.metaData.online is False and online_joins:
            errors.append("group_by {} is explicitly marked offline but included in the following online joins: {}"
                          .format(group_by.metaData.name, ", ".join(online_joins)))
        if prod_joins:
            if group_by.metaData.production is False:
                errors.append("group_by {} is explicitly marked as non-production but included in the following "
                              "production joins: {}".format(group_by.metaData.name, ", ".join(prod_joins)))
            else:
                # a GroupBy used by a compiled production join is production too
                group_by.metaData.production = True
        if group_by.derivations:
            errors.extend(self._validate_derivations(group_by.keyColumns, get_pre_derived_group_by_columns(group_by),
                                                     group_by.derivations))
        if group_by.metaData.deprecationDate and not re.match(r"\d{4}-\d{2}-\d{2}", group_by.metaData.deprecationDate):
            errors.append("Deprecation date is not in the correct format for group_by {}".format(group_by.metaData.name))
        for source in group_by.sources:
            if source.events and source.events.isCumulative and source.events.query.timeColumn is None:
                errors.append("Please set query.timeColumn for Cumulative Events Table: {}".format(source.events.table))
        return errors
