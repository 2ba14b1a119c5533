"""Thrift "simple JSON" for the classes of ai.chronon.api.ttypes.

Encoding (what Chronon's compiled files contain): struct keys are field names in thrift
field-id order, unset (None) fields are left out, enums are integers, booleans are 1/0, doubles
keep a decimal point, maps and lists keep their order.  Files are ``json.dumps(indent=2)``.
Values of the wrong type are an error naming the field path, never silently coerced (except an
integer in a double field, written as a float).
"""

import json

from ai.chronon.api import ttypes


class SerializationError(ValueError):
    pass


def _type_name(t):
    if isinstance(t, tuple):
        return f"{t[0]}<{', '.join(_type_name(x) for x in t[1:])}>"
    if isinstance(t, type):
        return t.__name__
    return t


def _bad(path, t, value):
    return SerializationError(
        f"field {path}: expected {_type_name(t)}, got {type(value).__name__} {value!r:.120}")


def to_simple(value, t, path):
    """Converts a value of thrift type `t` to plain JSON data (dicts keep thrift order)."""
    if isinstance(t, tuple):
        if t[0] == "list":
            if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
                raise _bad(path, t, value)
            return [to_simple(v, t[1], f"{path}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            raise _bad(path, t, value)
        out = {}
        for k, v in value.items():
            key = to_simple(k, t[1], f"{path} key")
            out[key] = to_simple(v, t[2], f"{path}[{k!r}]")
        return out
    if t == "string":
        if not isinstance(value, str):
            raise _bad(path, t, value)
        return value
    if t == "bool":
        if value is not True and value is not False:
            raise _bad(path, t, value)
        return 1 if value else 0
    if t == "i32":
        if isinstance(value, bool) or not isinstance(value, int) or not -2**31 <= value < 2**31:
            raise _bad(path, t, value)
        return value
    if t == "double":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(path, t, value)
        return float(value)
    if isinstance(t, type) and issubclass(t, ttypes._Enum):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(path, t, value)
        return value
    if isinstance(t, type) and issubclass(t, ttypes._Struct):
        if not isinstance(value, t):
            raise _bad(path, t, value)
        out = {}
        for _fid, name, ftype in t._FIELDS:
            v = getattr(value, name, None)
            if v is not None:
                out[name] = to_simple(v, ftype, f"{path}.{name}" if path else name)
        return out
    raise SerializationError(f"field {path}: unknown thrift type {t!r}")


def from_simple(value, t):
    """Builds ttypes objects from parsed JSON (readers accept true/false for booleans)."""
    if isinstance(t, tuple):
        if t[0] == "list":
            return [from_simple(v, t[1]) for v in value]
        return {from_simple(k, t[1]): from_simple(v, t[2]) for k, v in value.items()}
    if t == "string":
        return str(value)
    if t == "bool":
        return bool(value)
    if t == "double":
        return float(value)
    if t == "i32" or (isinstance(t, type) and issubclass(t, ttypes._Enum)):
        return int(value)
    obj = t()
    for _fid, name, ftype in t._FIELDS:
        if name in value:
            setattr(obj, name, from_simple(value[name], ftype))
    return obj


def thrift_simple_json(obj):
    return json.dumps(to_simple(obj, type(obj), ""), indent=2)


def json2thrift(json_str, thrift_class):
    return from_simple(json.loads(json_str), thrift_class)


def file2thrift(path, thrift_class):
    try:
        with open(path, "r") as f:
            return json2thrift(f.read(), thrift_class)
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as e:
        raise SerializationError(
            f"{path}: not a valid compiled {thrift_class.__name__} ({e})") from e


def thrift_simple_json_protected(obj, obj_type):
    """Serializes and checks that reading the text back yields the same text."""
    if not isinstance(obj, obj_type):
        raise SerializationError(f"expected a {obj_type.__name__}, got {type(obj).__name__}")
    serialized = thrift_simple_json(obj)
    again = thrift_simple_json(json2thrift(serialized, obj_type))
    if again != serialized:
        raise SerializationError("serialization can't be reversed: re-reading the JSON changes it")
    return serialized
