"""Loads config modules and collects their top-level GroupBy / Join / StagingQuery objects."""

import glob
import importlib
import logging
import os

from ai.chronon.api.ttypes import GroupBy, Join
from ai.chronon.logger import get_logger


def from_folder(root_path: str, full_path: str, cls: type, log_level=logging.INFO):
    """All objects of `cls` in every .py under `full_path`; a file that fails to load is logged
    and skipped."""
    full_path = full_path.rstrip("/")
    result = {}
    for f in sorted(glob.glob(os.path.join(full_path, "**/*.py"), recursive=True)):
        try:
            result.update(from_file(root_path, f, cls, log_level))
        except Exception as e:  # a broken file must not stop the rest of the folder
            # one line naming the file (and the line of a syntax error); the traceback with --debug
            where = f"{f}:{e.lineno}" if isinstance(e, SyntaxError) and e.lineno else f
            logging.error(f"Failed to extract: {where}: {type(e).__name__}: {' '.join(str(e).split())}")
            if log_level <= logging.DEBUG:
                logging.exception(e)
    return result


def import_module_set_name(module, cls, inline_group_bys=None):
    """Names every top-level `cls` object of the module `<module path minus folder>.<var>` and
    sets its team to the module's second segment."""
    for name, obj in list(module.__dict__.items()):
        if isinstance(obj, cls):
            obj.metaData.name = module.__name__.partition(".")[2] + "." + name
            obj.metaData.team = module.__name__.split(".")[1]
            if isinstance(obj, Join) and inline_group_bys:
                for jp in obj.joinParts:
                    if jp.groupBy in inline_group_bys:
                        jp.groupBy.metaData.team = obj.metaData.team
    return module


def module_name_for(root_path: str, file_path: str) -> str:
    rel = os.path.relpath(os.path.abspath(file_path), os.path.abspath(root_path))
    return rel[:-3].replace(os.sep, ".")


def from_file(root_path: str, file_path: str, cls: type, log_level=logging.INFO):
    logger = get_logger(log_level)
    logger.debug(f"Loading objects of type {cls} from {file_path}")
    mod = importlib.import_module(module_name_for(root_path, file_path))
    inline_group_bys = [v for v in mod.__dict__.values() if isinstance(v, GroupBy)] if cls == Join else None
    import_module_set_name(mod, cls, inline_group_bys)
    return {obj.metaData.name: obj for obj in mod.__dict__.values() if isinstance(obj, cls)}
