"""Reads teams.json: team name -> settings, with the `default` team as single-level fallback."""

import json

DEFAULT_CONF_TEAM = "default"

loaded_jsons = {}


class TeamConfigError(ValueError):
    pass


def read_conf_json(json_path):
    if json_path not in loaded_jsons:
        try:
            with open(json_path) as f:
                loaded_jsons[json_path] = json.load(f)
        except FileNotFoundError:
            raise TeamConfigError(f"{json_path}: teams file not found (every chronon root needs one)")
        except json.JSONDecodeError as e:
            raise TeamConfigError(f"{json_path}: not valid JSON ({e})")
        if not isinstance(loaded_jsons[json_path], dict):
            del loaded_jsons[json_path]
            raise TeamConfigError(f"{json_path}: expected a JSON object of team name -> settings")
    return loaded_jsons[json_path]


def team_exists(json_path, team):
    return team in read_conf_json(json_path)


def get_team_conf(json_path, team, key, required=True):
    """The team's `key`, else the `default` team's; a key in neither is an error, or None
    when not `required` (teams.json need not have a `default` team)."""
    team_json = read_conf_json(json_path)
    if team not in team_json:
        raise TeamConfigError("team {} does not exist in {}".format(team, json_path))
    team_dict = team_json[team]
    if key in team_dict:
        return team_dict[key]
    default = team_json.get(DEFAULT_CONF_TEAM, {})
    if key not in default:
        if not required:
            return None
        raise TeamConfigError(
            f"{json_path}: team {team} has no '{key}' and the '{DEFAULT_CONF_TEAM}' team has none to fall back on")
    return default[key]
