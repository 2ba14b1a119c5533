"""Finds compiled confs downstream of a conf: Joins embedding a GroupBy, GroupBys whose
JoinSource is a Join."""

import logging
import os
from typing import List

from ai.chronon.api.ttypes import GroupBy, Join
from ai.chronon.logger import get_logger
from ai.chronon.repo import GROUP_BY_FOLDER_NAME, JOIN_FOLDER_NAME, STAGING_QUERY_FOLDER_NAME
from ai.chronon.repo.validator import extract_json_confs


class ChrononEntityDependencyTracker(object):
    def __init__(self, chronon_root_path: str, log_level=logging.INFO):
        # chronon_root_path is the output root (e.g. <root>/production)
        self.logger = get_logger(log_level)
        self.chronon_root_path = chronon_root_path

    def extract_conf(self, obj_class: type, path: str):
        objs = extract_json_confs(obj_class, os.path.join(self.chronon_root_path, path))
        if len(objs) != 1:
            raise ValueError(f"{'No' if not objs else 'Multiple'} {obj_class.__name__} found in {path}")
        return objs[0]

    def get_join_downstream(self, conf_path: str, join_name: str = None) -> List[object]:
        join_name = join_name or self.extract_conf(Join, conf_path).metaData.name
        names, out = set(), []
        for gb in extract_json_confs(GroupBy, os.path.join(self.chronon_root_path, GROUP_BY_FOLDER_NAME)):
            for source in gb.sources or []:
                if (source.joinSource and source.joinSource.join.metaData.name == join_name
                        and gb.metaData.name not in names):
                    names.add(gb.metaData.name)
                    out.append(gb)
        return out

    def get_group_by_downstream(self, conf_path: str, gb_name: str = None) -> List[object]:
        gb_name = gb_name or self.extract_conf(GroupBy, conf_path).metaData.name
        names, out = set(), []
        for join in extract_json_confs(Join, os.path.join(self.chronon_root_path, JOIN_FOLDER_NAME)):
            for jp in join.joinParts or []:
                if jp.groupBy.metaData.name == gb_name and join.metaData.name not in names:
                    names.add(join.metaData.name)
                    out.append(join)
        return out

    def get_downstream(self, conf_path: str) -> List[object]:
        folder = conf_path.split(os.sep)[0]
        if folder == JOIN_FOLDER_NAME:
            return self.get_join_downstream(conf_path)
        if folder == GROUP_BY_FOLDER_NAME:
            return self.get_group_by_downstream(conf_path)
        if folder == STAGING_QUERY_FOLDER_NAME:
            self.logger.info("Staging queries downstream check not supported yet.")
            return []
        raise ValueError(f"Invalid conf path: {conf_path}")

    def get_downstream_names_by_name(self, obj_class: type, name: str) -> List[str]:
        """Like get_downstream_names, for a conf that is not written yet."""
        if obj_class is Join:
            return [obj.metaData.name for obj in self.get_join_downstream("", name)]
        if obj_class is GroupBy:
            return [obj.metaData.name for obj in self.get_group_by_downstream("", name)]
        return []

    def get_downstream_names(self, conf_path: str) -> List[str]:
        return [obj.metaData.name for obj in self.get_downstream(conf_path)]
