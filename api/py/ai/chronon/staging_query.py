"""Helpers that point sources and dependencies at a StagingQuery's output table."""

import os

import ai.chronon.api.ttypes as api
from ai.chronon import utils
from ai.chronon.repo import TEAMS_FILE_PATH, teams


def _resolve_staging_query_table_and_namespace(staging_query: api.StagingQuery):
    md = staging_query.metaData
    if md.outputNamespace and md.name:
        return f"{md.outputNamespace}.{md.name}", md.outputNamespace
    table_name = utils.get_staging_query_output_table_name(staging_query, full_name=True)
    if "{{ db }}" in table_name and md.name:
        teams_path = os.path.join(utils.chronon_root_path, TEAMS_FILE_PATH)
        try:
            namespace = teams.get_team_conf(teams_path, md.name.split(".")[0], "namespace")
        except ValueError:
            namespace = teams.get_team_conf(teams_path, "default", "namespace")
        return table_name.replace("{{ db }}", namespace), namespace
    return table_name, table_name.split(".")[0]


def StagingQueryEventSource(staging_query: api.StagingQuery, query: api.Query,
                            is_cumulative: bool = False) -> api.Source:
    """Batch event source reading the staging query's output table."""
    table_name, _ = _resolve_staging_query_table_and_namespace(staging_query)
    return api.Source(events=api.EventSource(table=table_name, query=query, isCumulative=is_cumulative,
                                             topic=None))


def StagingQueryEntitySource(staging_query: api.StagingQuery, query: api.Query) -> api.Source:
    """Batch entity source reading the staging query's output table."""
    table_name, _ = _resolve_staging_query_table_and_namespace(staging_query)
    return api.Source(entities=api.EntitySource(snapshotTable=table_name, query=query,
                                                mutationTable=None, mutationTopic=None))


def get_staging_query_dependencies(staging_query: api.StagingQuery, lag: int = 0):
    """The signal partition to wait for before reading a staging query view."""
    table_name, namespace = _resolve_staging_query_table_and_namespace(staging_query)
    return [f"{namespace}.chronon_signal_partitions/ds={{{{ ds }}}}/table_name={table_name}"]
