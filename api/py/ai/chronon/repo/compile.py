#!/usr/bin/env python3
"""Compiles Chronon Python configs (GroupBy, Join, StagingQuery) into the Thrift simple-JSON
files under <chronon_root>/<output_root>/<folder>/<team>/<module path>.<variable>.

Run as `python3 <api/py>/ai/chronon/repo/compile.py --conf group_bys/team/file.py` from a
chronon root (a directory with teams.json, group_bys/, joins/, staging_queries/), or through
`chronon compile`.  Behaviour follows Chronon's compile.py; see docs/compile.md.
"""

import os
import sys


def _bootstrap_sys_path():
    """Makes `ai.chronon` importable from this file's own api/py ancestor and keeps this
    directory's modules (teams, validator, ...) from shadowing top-level names."""
    here = os.path.dirname(os.path.abspath(__file__))
    api_py = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    if api_py not in sys.path:
        sys.path.insert(0, api_py)
    return api_py


if __name__ == "__main__":
    _API_PY = _bootstrap_sys_path()
else:
    _API_PY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import pprint  # noqa: E402
import textwrap  # noqa: E402
import traceback  # noqa: E402
from typing import List, Optional, Tuple  # noqa: E402

import ai.chronon.api.ttypes as api  # noqa: E402
import ai.chronon.repo.extract_objects as eo  # noqa: E402
import ai.chronon.utils as utils  # noqa: E402
from ai.chronon.api.ttypes import GroupBy, Join, StagingQuery  # noqa: E402
from ai.chronon.repo import (  # noqa: E402
    GROUP_BY_FOLDER_NAME,
    JOIN_FOLDER_NAME,
    STAGING_QUERY_FOLDER_NAME,
    TEAMS_FILE_PATH,
    dependency_tracker,
    teams,
)
from ai.chronon.repo.serializer import SerializationError, json2thrift, thrift_simple_json_protected  # noqa: E402
from ai.chronon.repo.validator import (  # noqa: E402
    ChrononRepoValidator,
    get_group_by_output_columns,
    get_join_output_columns,
)

FOLDER_NAME_TO_CLASS = {
    GROUP_BY_FOLDER_NAME: GroupBy,
    JOIN_FOLDER_NAME: Join,
    STAGING_QUERY_FOLDER_NAME: StagingQuery,
}

DEFAULT_TEAM_NAME = "default"


class CompileError(Exception):
    """A problem reported as one line (file/config, field, rule) with a non-zero exit."""


def get_folder_name_from_class_name(class_name):
    return {v.__name__: k for k, v in FOLDER_NAME_TO_CLASS.items()}[class_name]


# ---------------------------------------------------------------------------------------------
# printing (same layout as Chronon's compile.py)

def _print_highlighted(left, right):
    print(f"{left:>25} - \u001b[34m{right}\u001b[0m")


def _print_features_names(left, right):
    print(f"{left:>25} - \u001b[32m{right}\u001b[0m")


def _print_modes_tables(left, right):
    text = textwrap.indent(json.dumps(right, indent=2), " " * 27)
    json_start = "json.start"
    json_end = "json.end\n"
    print(f"{left:>25} - \n{json_start:>25} \u001b[32m\n{text}\u001b[0m \n{json_end:>25}")


def _print_error(left, right):
    print(f"\033[91m{left:>25} - \033[1m{right}\033[00m")


def _print_warning(string):
    print(f"\u001b[33m{string}\u001b[0m")


def _print_debug_info(keys, header, log_level=logging.DEBUG):
    if log_level != logging.DEBUG:
        return
    print(header)
    right = pprint.pformat(list(keys)) if keys else "None"
    print(f"\t\u001b[34m{right}\u001b[0m")


def _confirm(question, default):
    """Yes/no prompt on stdin ([Y/n] or [y/N]). End of input (no terminal: a script, a
    pipeline, stdin closed) takes the default, as pressing Enter does, so the guide's
    commands also run unattended; ^C aborts (main)."""
    suffix = " [Y/n]: " if default else " [y/N]: "
    while True:
        sys.stdout.write(question + suffix)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            print("%s (no answer on standard input: the default)" % ("y" if default else "n"))
            return default
        answer = line.strip().lower()
        if answer == "":
            return default
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        print("Error: invalid input")


# ---------------------------------------------------------------------------------------------
# team metadata and templates

def _set_team_level_metadata(obj, teams_path: str, team_name: str):
    namespace = teams.get_team_conf(teams_path, team_name, "namespace")
    # optional: a teams.json without a `default` team (the guide's) leaves it unset
    table_properties = teams.get_team_conf(teams_path, team_name, "table_properties", required=False)
    obj.metaData.outputNamespace = obj.metaData.outputNamespace or namespace
    obj.metaData.tableProperties = obj.metaData.tableProperties or table_properties
    obj.metaData.team = team_name
    if isinstance(obj, api.GroupBy):
        for source in obj.sources:
            if source.joinSource:
                _set_team_level_metadata(source.joinSource.join, teams_path, team_name)


def _fill_template(table, obj, namespace):
    if table:
        table = table.replace("{{ logged_table }}", utils.log_table_name(obj, full_name=True))
        table = table.replace("{{ db }}", namespace)
    return table


def _set_templated_values(obj, cls, teams_path, team_name):
    namespace = teams.get_team_conf(teams_path, team_name, "namespace")
    if cls == api.Join and obj.bootstrapParts:
        for bootstrap in obj.bootstrapParts:
            bootstrap.table = _fill_template(bootstrap.table, obj, namespace)
        if obj.metaData.dependencies:
            obj.metaData.dependencies = [_fill_template(d, obj, namespace) for d in obj.metaData.dependencies]
    if cls == api.Join and obj.labelPart:
        table = utils.output_table_name(obj, full_name=True)
        obj.labelPart.metaData.dependencies = [
            d.replace("{{ join_backfill_table }}", table) for d in obj.labelPart.metaData.dependencies]
    if cls == api.GroupBy and obj.metaData.dependencies:
        obj.metaData.dependencies = [_fill_template(d, obj, namespace) for d in obj.metaData.dependencies]


# ---------------------------------------------------------------------------------------------
# existing files: samplePercent and modeToEnvMap preservation

def _read_existing(output_file: str):
    if os.path.exists(output_file):
        try:
            with open(output_file, "r") as f:
                return json.load(f)
        except (json.JSONDecodeError, IOError):
            return None
    return None


def _get_existing_sample_percent(output_file: str) -> Optional[float]:
    content = _read_existing(output_file)
    if isinstance(content, dict):
        return content.get("metaData", {}).get("samplePercent")
    return None


def _detect_sample_percent_changes(full_output_root, results, obj_class) -> List[Tuple[str, float, None]]:
    changes = []
    if obj_class is not Join:
        return changes
    for name, obj in results.items():
        _, _, output_file = _construct_output_file_name(full_output_root, name, obj)
        old = _get_existing_sample_percent(output_file)
        if old is not None and old > 0 and obj.metaData.samplePercent is None:
            changes.append((name, old, obj.metaData.samplePercent))
    return changes


def _find_all_mode_to_env_maps(obj, path=""):
    """{"metaData.modeToEnvMap": {...}, "joinParts.0.groupBy.metaData.modeToEnvMap": {...}, ...}"""
    found = {}
    if not isinstance(obj, dict):
        return found
    for key, value in obj.items():
        current = f"{path}.{key}" if path else key
        if key == "modeToEnvMap":
            found[current] = value
        elif isinstance(value, dict):
            found.update(_find_all_mode_to_env_maps(value, current))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    found.update(_find_all_mode_to_env_maps(item, f"{current}.{i}"))
    return found


def _set_nested_value(obj, path, value):
    keys = path.split(".")
    current = obj
    for key in keys[:-1]:
        current = current[int(key)] if key.isdigit() else current[key]
    last = keys[-1]
    if last.isdigit():
        current[int(last)] = value
    else:
        current[last] = value


def _serialize_preserving_mode_to_env_map(output_file, obj, obj_class) -> str:
    """The new JSON with every modeToEnvMap of the existing file kept (re-serialized so keys
    stay in thrift order)."""
    new_content = json.loads(thrift_simple_json_protected(obj, obj_class))
    existing = _read_existing(output_file)
    if isinstance(existing, dict):
        for path, old_value in _find_all_mode_to_env_maps(existing).items():
            try:
                _set_nested_value(new_content, path, old_value)
            except (KeyError, IndexError, TypeError):
                pass
    return thrift_simple_json_protected(json2thrift(json.dumps(new_content), obj_class), obj_class)


# ---------------------------------------------------------------------------------------------
# writing

def _construct_output_file_name(full_output_root: str, name: str, obj) -> Tuple[str, type, str]:
    team_name = name.split(".")[0]
    obj_class = type(obj)
    if "." not in name:
        raise CompileError(f"{obj_class.__name__} name '{name}' must look like <team>.<name>")
    file_name = name.split(".", 1)[1]
    folder = get_folder_name_from_class_name(obj_class.__name__)
    return file_name, obj_class, os.path.join(full_output_root, folder, team_name, file_name)


def _atomic_write(output_file: str, content: str):
    folder = os.path.dirname(output_file)
    os.makedirs(folder, exist_ok=True)
    if not os.path.isdir(folder):
        raise CompileError(f"{folder} isn't a folder.")
    # a dot name: readers of the output tree skip it if the process dies before the rename
    tmp = os.path.join(folder, f".{os.path.basename(output_file)}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(content)
        os.replace(tmp, output_file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_obj(full_output_root, validator, name, obj, log_level, force_compile=False, force_overwrite=False,
               respect_existing_env_vars=False, respect_existing_sample_percent=False, pre_write=None) -> bool:
    """Writes one conf unless it is skipped, invalid or guarded; True when written."""
    file_name, obj_class, output_file = _construct_output_file_name(full_output_root, name, obj)
    class_name = obj_class.__name__
    _print_highlighted(f"{class_name} Team", name.split(".")[0])
    _print_highlighted(f"{class_name} Name", file_name)
    skip_reasons = validator.can_skip_materialize(obj)
    if not force_compile and skip_reasons:
        _print_warning(f"Skipping {class_name} {file_name}: {', '.join(skip_reasons)}")
        if os.path.exists(output_file):
            _print_warning(f"old file exists for skipped config: {output_file}")
        return False
    errors = validator.validate_obj(obj)
    if errors:
        _print_error(f"Could not write {class_name} {file_name}", ", ".join(errors))
        return False
    if force_overwrite:
        _print_warning(f"Force overwrite {class_name} {file_name}")
    elif not validator.safe_to_overwrite(obj):
        _print_warning(f"Cannot overwrite {class_name} {file_name} with existing online conf")
        return False
    if pre_write is not None:
        pre_write()
    if respect_existing_sample_percent and obj_class is Join:
        old = _get_existing_sample_percent(output_file)
        if old is not None and obj.metaData.samplePercent is None:
            obj.metaData.samplePercent = old
            _print_warning(f"(preserving existing samplePercent: {old}%)")
    try:
        if respect_existing_env_vars:
            content = _serialize_preserving_mode_to_env_map(output_file, obj, obj_class)
        else:
            content = thrift_simple_json_protected(obj, obj_class)
    except SerializationError as e:
        raise CompileError(f"{class_name} {name}: {e}") from e
    _print_highlighted(f"Writing {class_name} to", output_file)
    if respect_existing_env_vars:
        _print_warning("(preserving existing modeToEnvMap)")
    _atomic_write(output_file, content)
    return True


# ---------------------------------------------------------------------------------------------
# displays, deprecation, downstream confs

def _print_features(obj, obj_class):
    if obj_class is Join:
        for key, value in get_join_output_columns(obj).items():
            left = key.value.replace("_", " ").title()
            _print_features_names(left, "\n" + pprint.pformat(value, width=80, compact=True))
    if obj_class is GroupBy:
        _print_features_names("Output GroupBy Features", get_group_by_output_columns(obj))


def _print_tables(obj, obj_class):
    label = {Join: "Output Join Tables", GroupBy: "Output GroupBy Tables",
             StagingQuery: "Output StagingQuery Tables"}[obj_class]
    _print_modes_tables(label, utils.get_modes_tables(obj))


def check_deprecation_date_setup_for_downstream(collection, entity_type, obj_name, obj_deprecation_date):
    wrong = [name for name, item in collection.items()
             if not item.metaData.deprecationDate or item.metaData.deprecationDate > obj_deprecation_date]
    if wrong:
        _print_error("Deprecation Warning:",
                     f"Downstream {entity_type} {wrong} are missing deprecationDate or has a later deprecationDate "
                     f"than upstream {obj_name}. Please ensure either to remove/migrate the dependency or set up "
                     f"correct deprecationDate.")


def check_deprecation_existence_in_upstream(collection, entity_type, obj_name):
    for name, item in collection.items():
        if item.metaData.deprecationDate:
            _print_error("Deprecation Warning:",
                         f"{entity_type} {name} is going to be deprecated by {item.metaData.deprecationDate}. "
                         f"Please ensure either to remove/migrate the dependency or set up correct deprecationDate "
                         f"for {obj_name}.")


def _handle_deprecation_warning(obj, obj_class, downstream_group_bys, downstream_joins):
    if obj.metaData.deprecationDate:
        check_deprecation_date_setup_for_downstream(downstream_group_bys, "group_bys", obj.metaData.name,
                                                    obj.metaData.deprecationDate)
        check_deprecation_date_setup_for_downstream(downstream_joins, "joins", obj.metaData.name,
                                                    obj.metaData.deprecationDate)
    elif obj_class is Join:
        check_deprecation_existence_in_upstream({jp.groupBy.metaData.name: jp.groupBy for jp in obj.joinParts},
                                                "Join part", obj.metaData.name)
    elif obj_class is GroupBy:
        check_deprecation_existence_in_upstream(
            {s.joinSource.join.metaData.name: s.joinSource.join for s in obj.sources if s.joinSource},
            "Join source", obj.metaData.name)


def _get_conf_file_path(downstream: str, downstream_class) -> Optional[Tuple[str, str]]:
    """Source file of a conf named team.[dirs.]module.var; None for names without a module
    (inline GroupBys, compiled together with their join)."""
    parts = downstream.split(".")
    if len(parts) < 3:
        return None
    path = os.path.join(parts[0], *parts[1:-2], parts[-2] + ".py")
    folder = JOIN_FOLDER_NAME if downstream_class is Join else GROUP_BY_FOLDER_NAME
    return parts[-1], os.path.join(folder, path)


def _handle_dependent_configurations(chronon_root_path, tracker, full_output_root, name, obj, obj_class,
                                     log_level=logging.INFO):
    new_group_bys, new_joins = {}, {}
    _, _, abs_output = _construct_output_file_name(full_output_root, name, obj)
    rel_output = os.path.relpath(abs_output, full_output_root)
    downstreams = tracker.get_downstream_names(rel_output)
    _print_debug_info(downstreams, f"Downstreams For {rel_output}", log_level)
    for downstream in downstreams:
        if obj_class is Join:
            downstream_class = GroupBy
        elif obj_class is GroupBy:
            downstream_class = Join
        else:
            continue
        conf_result = _get_conf_file_path(downstream, downstream_class)
        if conf_result is None:
            if log_level == logging.DEBUG:
                print(f"No {downstream} dependency of type {downstream_class.__name__} for {name}")
            continue
        _, conf_file_path = conf_result
        try:
            conf_objs = eo.from_file(chronon_root_path, os.path.join(chronon_root_path, conf_file_path),
                                     downstream_class, log_level=log_level)
        except Exception as e:
            _print_error(f"Failed to parse {downstream} dependency of type {downstream_class.__name__} for {name} "
                         f"at {conf_file_path}", str(e))
            raise
        if downstream not in conf_objs:
            raise CompileError(
                f"{conf_file_path}: compiled {downstream_class.__name__} {downstream} depends on {name} but is "
                f"no longer defined in its source file; recompile or remove "
                f"{os.path.relpath(abs_output, full_output_root)}'s dependents")
        target = conf_objs[downstream]
        if downstream_class is GroupBy:
            new_group_bys[target.metaData.name] = target
        else:
            new_joins[target.metaData.name] = target
    return new_group_bys, new_joins


def _handle_extra_conf_objects_to_materialize(conf_objs, force_overwrite, full_output_root, teams_path, validator,
                                              log_level=logging.INFO, is_gb=True, respect_existing_env_vars=False,
                                              respect_existing_sample_percent=False):
    written = 0
    validator.load_objs()  # see the joins written in this run
    for name, obj in conf_objs.items():
        _set_team_level_metadata(obj, teams_path, name.split(".")[0])
        if _write_obj(full_output_root, validator, name, obj, log_level, force_compile=True,
                      force_overwrite=force_overwrite, respect_existing_env_vars=respect_existing_env_vars,
                      respect_existing_sample_percent=respect_existing_sample_percent):
            written += 1
    print(f"Successfully wrote {written} {'GroupBy' if is_gb else 'Join'} objects to {full_output_root}")


# ---------------------------------------------------------------------------------------------
# main flow

def _online_parts_check(obj, offline_gbs, backfill_only_gbs, input_rel):
    def check():
        not_online = offline_gbs + backfill_only_gbs
        if obj.metaData.online and not_online:
            raise CompileError(
                f"{input_rel}: Join {obj.metaData.name} is online (metaData.online) but part GroupBys are not: "
                f"you must make all dependent GroupBys `online` if you want to make your join "
                f"[{obj.metaData.name}] `online`. You can do this by passing the `online=True` argument to the "
                f"GroupBy constructor. Fix the following: {not_online}")
    return check


def _check_file_before_writing(results, obj_class, validator, input_path):
    """An online Join whose part GroupBys are not all online fails the whole file before
    anything is written (Chronon raises this after writing the join)."""
    for name, obj in results.items():
        if obj_class is not Join or not obj.metaData.online or validator.can_skip_materialize(obj):
            continue
        if validator.validate_obj(obj):
            continue  # reported as "Could not write" by the main loop
        not_online = [jp.groupBy.metaData.name for jp in obj.joinParts if not jp.groupBy.metaData.online]
        if not_online:
            raise CompileError(
                f"{input_path}: Join {name} is online (metaData.online) but part GroupBys are not: you must make "
                f"all dependent GroupBys `online` if you want to make your join [{name}] `online`. You can do "
                f"this by passing the `online=True` argument to the GroupBy constructor. "
                f"Fix the following: {not_online}; nothing was written")


def extract_and_convert(chronon_root, input_path, output_root, debug, force_overwrite, feature_display,
                        table_display, yes):
    log_level = logging.DEBUG if debug else logging.INFO
    _print_highlighted("Using chronon root path", chronon_root)
    chronon_root_path = os.path.abspath(os.path.expanduser(chronon_root))
    utils.chronon_root_path = chronon_root_path
    if chronon_root_path not in sys.path:
        sys.path.insert(1 if sys.path and sys.path[0] == _API_PY else 0, chronon_root_path)
    if os.path.isabs(input_path):
        input_path = os.path.relpath(input_path, chronon_root_path)
    input_path = os.path.normpath(input_path)
    obj_folder_name = input_path.split(os.sep)[0]
    if obj_folder_name not in FOLDER_NAME_TO_CLASS:
        raise CompileError(f"--conf {input_path}: path must start with one of "
                           f"{', '.join(FOLDER_NAME_TO_CLASS)} (relative to the chronon root {chronon_root_path})")
    obj_class = FOLDER_NAME_TO_CLASS[obj_folder_name]
    full_input_path = os.path.join(chronon_root_path, input_path)
    _print_highlighted(f"Input {obj_folder_name} from", full_input_path)
    if not os.path.exists(full_input_path):
        raise CompileError(f"{input_path}: Input Path: {full_input_path} doesn't exist")
    if os.path.isdir(full_input_path):
        results = eo.from_folder(chronon_root_path, full_input_path, obj_class, log_level=log_level)
    elif os.path.isfile(full_input_path):
        if not full_input_path.endswith(".py"):
            raise CompileError(f"{input_path}: Input Path isn't a python file")
        results = eo.from_file(chronon_root_path, full_input_path, obj_class, log_level=log_level)
    else:
        raise CompileError(f"{input_path}: Input Path: {full_input_path}, isn't a file or a folder")

    validator = ChrononRepoValidator(chronon_root_path, output_root, log_level=log_level)
    extra_group_bys = {}
    extra_dependent_group_bys = {}
    extra_dependent_joins = {}
    num_written = 0
    num_failed = 0
    full_output_root = os.path.join(chronon_root_path, output_root)
    teams_path = os.path.join(chronon_root_path, TEAMS_FILE_PATH)
    tracker = dependency_tracker.ChrononEntityDependencyTracker(chronon_root_path=full_output_root,
                                                                log_level=log_level)
    _print_debug_info(results.keys(), f"Extracted Entities Of Type {obj_class.__name__}", log_level)

    respect_existing_env_vars = False
    if not yes and not _confirm("Do you want to update existing env variables in these files?", default=True):
        respect_existing_env_vars = True

    respect_existing_sample_percent = False
    changes = _detect_sample_percent_changes(full_output_root, results, obj_class)
    if changes and not yes:
        _print_warning("\nDetected samplePercent changes that would disable logging:")
        for name, old_val, _new in changes:
            _print_warning(f"  {name}: {old_val}% -> disabled (not set)")
        _print_warning("")
        if not _confirm("Do you want to disable logging for these Joins? "
                        "(Choose 'n' to preserve existing samplePercent)", default=False):
            respect_existing_sample_percent = True
            _print_warning("Will preserve existing samplePercent values.\n")

    single_file = os.path.isfile(full_input_path)
    for name, obj in results.items():
        team_name = name.split(".")[0]
        _set_team_level_metadata(obj, teams_path, team_name)
        _set_templated_values(obj, obj_class, teams_path, team_name)
    if single_file:
        _check_file_before_writing(results, obj_class, validator, input_path)
        if not force_overwrite:
            # downstream confs that would go stale: refuse before writing anything
            dependents = []
            for name, obj in results.items():
                if validator.can_skip_materialize(obj):
                    continue
                downstream_class = GroupBy if obj_class is Join else Join
                dependents += [d for d in tracker.get_downstream_names_by_name(obj_class, obj.metaData.name)
                               if _get_conf_file_path(d, downstream_class) is not None]
            if dependents:
                raise CompileError(
                    f"{input_path}: compiled confs depend on this one: you must also materialize all dependent "
                    f"GroupBys or Joins. You can do this by passing the --force-overwrite flag to the compile.py "
                    f"command. Detected dependencies are as follows: {sorted(set(dependents))}; nothing was "
                    f"written")

    for name, obj in results.items():
        pre_write = None
        if obj_class is Join:
            # GroupBys of join parts that need their own compiled file (online or backfilled)
            online_gbs, backfill_gbs, offline_gbs = {}, {}, []
            for jp in obj.joinParts:
                gb = jp.groupBy
                if gb.metaData.online:
                    online_gbs[gb.metaData.name] = gb
                elif gb.backfillStartDate:
                    backfill_gbs[gb.metaData.name] = gb
                else:
                    offline_gbs.append(gb.metaData.name)
            source_file = (_get_conf_file_path(name, Join) or (None, input_path))[1]
            pre_write = _online_parts_check(obj, offline_gbs, list(backfill_gbs), source_file)

        if not _write_obj(full_output_root, validator, name, obj, log_level, force_overwrite, force_overwrite,
                          respect_existing_env_vars, respect_existing_sample_percent, pre_write=pre_write):
            if validator.validate_obj(obj):
                num_failed += 1
            continue
        num_written += 1
        if feature_display:
            _print_features(obj, obj_class)
        if table_display:
            _print_tables(obj, obj_class)
        if obj_class is Join:
            _print_debug_info(list(online_gbs), "Online Groupbys", log_level)
            _print_debug_info(list(backfill_gbs), "Offline Groupbys With Backfill Enabled", log_level)
            _print_debug_info(offline_gbs, "Offline Groupbys", log_level)
            extra_group_bys.update({**online_gbs, **backfill_gbs})
        new_gbs, new_joins = _handle_dependent_configurations(chronon_root_path, tracker, full_output_root, name,
                                                              obj, obj_class, log_level)
        _handle_deprecation_warning(obj, obj_class, new_gbs, new_joins)
        extra_dependent_group_bys.update(new_gbs)
        extra_dependent_joins.update(new_joins)

    if not single_file and num_failed:
        _print_warning(f"{num_failed} {obj_class.__name__} object(s) under {input_path} could not be written "
                       f"(see the errors above)")

    if not force_overwrite:
        dependents = {**extra_dependent_group_bys, **extra_dependent_joins}
        if dependents:
            raise CompileError(
                f"{input_path}: compiled confs depend on what was just written: you must also materialize all "
                f"dependent GroupBys or Joins. You can do this by passing the --force-overwrite flag to the "
                f"compile.py command. Detected dependencies are as follows: {sorted(dependents)}")

    if extra_group_bys or extra_dependent_group_bys:
        extra_group_bys.update(extra_dependent_group_bys)
        _handle_extra_conf_objects_to_materialize(extra_group_bys, force_overwrite, full_output_root, teams_path,
                                                  validator, log_level, is_gb=True,
                                                  respect_existing_env_vars=respect_existing_env_vars)
    if extra_dependent_joins:
        _handle_extra_conf_objects_to_materialize(extra_dependent_joins, force_overwrite, full_output_root,
                                                  teams_path, validator, log_level, is_gb=False,
                                                  respect_existing_env_vars=respect_existing_env_vars,
                                                  respect_existing_sample_percent=respect_existing_sample_percent)
    if num_written > 0:
        print(f"Successfully wrote {num_written} {obj_class.__name__} objects to {full_output_root}")
    if single_file and num_failed:
        # Chronon exits 0 here; a config that could not be written must fail the command
        raise CompileError(f"{input_path}: {num_failed} {obj_class.__name__} object(s) failed validation and "
                           f"were not written (see 'Could not write' above)")


def _parser():
    p = argparse.ArgumentParser(
        prog="compile.py", allow_abbrev=False,
        description="Convert Python Chronon GroupBys, Joins and StagingQueries into their compiled Thrift JSON "
                    "(written under <chronon_root>/<output_root>/<folder>/<team>/<name>).")
    p.add_argument("--chronon_root", default=os.environ.get("CHRONON_ROOT") or os.getcwd(),
                   help="Path to the root chronon folder (default: $CHRONON_ROOT, else the current directory)")
    p.add_argument("--input_path", "--conf", dest="input_path", required=True,
                   help="File or folder, relative to the chronon root, starting with group_bys/, joins/ or "
                        "staging_queries/")
    p.add_argument("--output_root", default="production",
                   help="Folder, relative to the chronon root, to write compiled confs to (default: production)")
    p.add_argument("--debug", action="store_true", help="debug mode: print extracted entities and tracebacks")
    p.add_argument("--force-overwrite", dest="force_overwrite", action="store_true",
                   help="Force overwriting existing materialized conf (also recompiles dependent confs).")
    p.add_argument("--feature-display", dest="feature_display", action="store_true",
                   help="Print out the features list created by the conf.")
    p.add_argument("--table-display", dest="table_display", action="store_true",
                   help="Print out the list of tables that are materialized per job modes in this conf.")
    p.add_argument("-y", "--yes", dest="yes", action="store_true",
                   help="Skip confirmation prompts (for non-interactive use).")
    return p


def _describe_exception(e, chronon_root, input_path):
    """`<config file>[:line]: <ErrorType>: <message>` on one line; the file is the innermost
    frame inside the chronon root (the config that failed), else the --conf path."""
    where = input_path
    if isinstance(e, SyntaxError) and e.filename:
        where = e.filename
        if e.lineno:
            where += f":{e.lineno}"
    else:
        root = os.path.realpath(chronon_root) + os.sep
        api_py = os.path.realpath(_API_PY) + os.sep
        for frame in traceback.extract_tb(e.__traceback__):
            path = os.path.realpath(frame.filename)
            if path.startswith(root) and not path.startswith(api_py):
                where = f"{frame.filename}:{frame.lineno}"
    if os.path.isabs(where.split(":")[0]):
        rel = os.path.relpath(where, chronon_root)
        if not rel.startswith(".."):
            where = rel
    message = " ".join(str(e).split()) or "assertion failed"
    if isinstance(e, CompileError):
        return message
    return f"{where}: {type(e).__name__}: {message}"


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        extract_and_convert(args.chronon_root, args.input_path, args.output_root, args.debug, args.force_overwrite,
                            args.feature_display, args.table_display, args.yes)
    except KeyboardInterrupt:  # ^C at a prompt or while compiling: one line, no traceback
        sys.stdout.flush()
        print("\nAborted!", file=sys.stderr)
        return 1
    except Exception as e:  # every failure becomes one line and exit 1
        sys.stdout.flush()
        if args.debug:
            traceback.print_exc()
        root = os.path.abspath(os.path.expanduser(args.chronon_root))
        print(f"compile.py: error: {_describe_exception(e, root, args.input_path)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
