"""Repository tooling: compile, validation, teams.json."""

JOIN_FOLDER_NAME = "joins"
GROUP_BY_FOLDER_NAME = "group_bys"
STAGING_QUERY_FOLDER_NAME = "staging_queries"
TEAMS_FILE_PATH = "teams.json"
