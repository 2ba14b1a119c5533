"""Brute-force reference implementation of Chronon's offline outputs.

Written from spec/compute.md (the chronon-c compute contract) and spec/config.md
(config shapes).  Every value is computed row by row from the raw table rows:
no tiles, no hops, no incremental state.  It is deliberately slow (quadratic
scans) so that it is easy to check against the spec by reading.

Section numbers (§n) and decision ids (Dn) refer to spec/compute.md.

Public API (see README.md next to this file):
    Table.from_rows / load_table       -- input tables
    groupby_backfill(conf, tables, end_ds, start_ds=None)
    groupby_snapshot(conf, tables, ds)
    groupby_value_at(conf, tables, keys, at_ms, max_partition=None)
    groupby_values_at(conf, tables, at_ms, max_partition=None)
    join_backfill(conf, tables, end_ds, start_ds=None)
    compile_expr(text, schema)        -- the Spark SQL subset evaluator
    approx_unique_ok / approx_percentile_ok / approx_histogram_ok  -- D19 tolerances
"""

import base64
import csv
import datetime
import decimal
import json
import math
import os
import re
import struct

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
FIVE_MIN_MS = 300_000
INT_MAX = 2**31 - 1
_EPOCH_DATE = datetime.date(1970, 1, 1)


class OracleError(Exception):
    """A config, table or expression the oracle cannot evaluate; the message names what."""


# --------------------------------------------------------------------------- time (§1)

def ds_to_epoch(ds):
    """epoch(D): start of day D in UTC milliseconds."""
    try:
        d = datetime.date.fromisoformat(ds)
    except (TypeError, ValueError):
        raise OracleError("partition %r: expected a date yyyy-MM-dd" % (ds,)) from None
    return (d - _EPOCH_DATE).days * DAY_MS


def day_of(ms):
    """day(t): the partition D with epoch(D) <= t < epoch(D+1)."""
    return (_EPOCH_DATE + datetime.timedelta(days=ms // DAY_MS)).isoformat()


def ds_add(ds, n):
    return day_of(ds_to_epoch(ds) + n * DAY_MS)


def ds_range(start, end):
    out = []
    d = start
    while d <= end:
        out.append(d)
        d = ds_add(d, 1)
    return out


def floor_to(x, h):
    """floor(x,h): largest multiple of h that is <= x (§1)."""
    return (x // h) * h


def tail_hop(window_ms):
    """H(W) of §2; the 12h and 12d thresholds are inclusive."""
    if window_ms is None or window_ms >= 12 * DAY_MS:
        return DAY_MS
    if window_ms >= 12 * HOUR_MS:
        return HOUR_MS
    return FIVE_MIN_MS


def clean_name(name):
    """cleanName: every character outside [A-Za-z0-9_] becomes '_' (§5)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


# --------------------------------------------------------------------------- types

_INT_BITS = {"byte": 8, "short": 16, "int": 32, "long": 64}
_NUM_RANK = {"byte": 0, "short": 1, "int": 2, "long": 3, "float": 4, "double": 5}
_TYPE_ALIASES = {
    "bigint": "long", "integer": "int", "smallint": "short", "tinyint": "byte",
    "bool": "boolean", "str": "string", "real": "float", "varchar": "string", "text": "string",
    "bytes": "binary",
}


def norm_type(t):
    """Normalises a type name: long, double, string, list<long>, map<string,double>, ..."""
    s = str(t).strip().lower().replace(" ", "")
    m = re.fullmatch(r"(?:list|array)<(.+)>", s)
    if m:
        return "list<%s>" % norm_type(m.group(1))
    m = re.fullmatch(r"map<([^,]+),(.+)>", s)
    if m:
        if norm_type(m.group(1)) != "string":
            raise OracleError("type %r: map keys must be string" % (t,))
        return "map<string,%s>" % norm_type(m.group(2))
    s = _TYPE_ALIASES.get(s, s)
    if s not in _NUM_RANK and s not in ("boolean", "string", "binary", "null"):
        raise OracleError("type %r: expected one of boolean, byte, short, int, long, float, "
                          "double, string, binary, list<T>, map<string,T>" % (t,))
    return s


def list_elem(t):
    return t[5:-1] if t.startswith("list<") else None


def map_value(t):
    return t[len("map<string,"):-1] if t.startswith("map<") else None


def is_int_type(t):
    return t in _INT_BITS


def is_float_type(t):
    return t in ("float", "double")


def is_num_type(t):
    return t in _NUM_RANK


def wrap_int(v, t="long"):
    """Two's complement wrap of an integer to the width of t (D18, Spark non-ANSI)."""
    bits = _INT_BITS.get(t, 64)
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >= 1 << (bits - 1) else v


def wider(a, b):
    """Common type of two expression branches."""
    if a == "null":
        return b
    if b == "null" or a == b:
        return a
    if is_num_type(a) and is_num_type(b):
        return a if _NUM_RANK[a] >= _NUM_RANK[b] else b
    if "string" in (a, b):
        return "string"
    raise OracleError("incompatible types %s and %s" % (a, b))


def java_double_str(x):
    """Java Double.toString with shortest digits (D26): 1.5, 100.0, 1.0E10, 1.0E-4."""
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    _, digits, exp = decimal.Decimal(repr(abs(x))).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exp += 1
    sdig = "".join(str(d) for d in digits)
    point = len(sdig) + exp  # position of the decimal point from the left of sdig
    if 1e-3 <= abs(x) < 1e7:
        if point <= 0:
            return sign + "0." + "0" * (-point) + sdig
        if point >= len(sdig):
            return sign + sdig + "0" * (point - len(sdig)) + ".0"
        return sign + sdig[:point] + "." + sdig[point:]
    mant = sdig[0] + "." + (sdig[1:] or "0")
    return sign + mant + "E" + str(point - 1)


def _parse_int_str(s):
    s = s.strip()
    m = re.fullmatch(r"[+-]?\d+(?:\.\d*)?", s)
    if not m:
        return None
    return int(s.split(".")[0])  # Spark truncates a decimal part


def spark_cast(v, t):
    """CAST(v AS t) with Spark's non-ANSI rules: invalid input gives null."""
    if v is None:
        return None
    if t in _INT_BITS:
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, int):
            return wrap_int(v, t)
        if isinstance(v, float):
            if v != v:
                return 0
            lo, hi = -(1 << (_INT_BITS[t] - 1)), (1 << (_INT_BITS[t] - 1)) - 1
            if t in ("byte", "short"):  # Spark goes through int, then narrows by wrapping
                lo, hi = -(1 << 31), (1 << 31) - 1
                return wrap_int(int(max(lo, min(hi, math.trunc(v)))) if not math.isinf(v)
                                else (hi if v > 0 else lo), t)
            if math.isinf(v):
                return hi if v > 0 else lo
            return int(max(lo, min(hi, math.trunc(v))))
        if isinstance(v, str):
            n = _parse_int_str(v)
            if n is None or not (-(1 << (_INT_BITS[t] - 1)) <= n < (1 << (_INT_BITS[t] - 1))):
                return None
            return n
        raise OracleError("cannot cast %r to %s" % (v, t))
    if t in ("float", "double"):
        if isinstance(v, (bool, int, float)):
            f = float(v)
        elif isinstance(v, str):
            s = v.strip()
            low = s.lower()
            if low in ("nan",):
                f = float("nan")
            elif low in ("infinity", "+infinity", "inf", "+inf"):
                f = float("inf")
            elif low in ("-infinity", "-inf"):
                f = float("-inf")
            elif re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[dDfF]?", s):
                f = float(s.rstrip("dDfF"))
            else:
                return None
        else:
            raise OracleError("cannot cast %r to %s" % (v, t))
        return to_float32(f) if t == "float" else f
    if t == "string":
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            return java_double_str(v)
        if isinstance(v, str):
            return v
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        return json.dumps(v, separators=(",", ":"))
    if t == "boolean":
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)):
            return v != 0
        if isinstance(v, str):
            s = v.strip().lower()
            if s in ("true", "t", "yes", "y", "1"):
                return True
            if s in ("false", "f", "no", "n", "0"):
                return False
            return None
    if t == "binary":
        if isinstance(v, bytes):
            return v
        if isinstance(v, str):
            return v.encode("utf-8")
    if t.startswith("list<") and isinstance(v, list):
        return [spark_cast(x, list_elem(t)) for x in v]
    if t.startswith("map<") and isinstance(v, dict):
        return {str(k): spark_cast(x, map_value(t)) for k, x in v.items()}
    raise OracleError("cannot cast %r to %s" % (v, t))


def to_float32(x):
    if x != x or math.isinf(x):
        return x
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(float("inf"), x)


def value_type(v):
    """Type of a JSON value, for tables loaded without a schema."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        t = "null"
        for x in v:
            t = wider(t, value_type(x))
        return "list<%s>" % ("string" if t == "null" else t)
    if isinstance(v, dict):
        t = "null"
        for x in v.values():
            t = wider(t, value_type(x))
        return "map<string,%s>" % ("string" if t == "null" else t)
    raise OracleError("unsupported JSON value %r" % (v,))


# --------------------------------------------------------------------------- expressions

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)(?P<suffix>[LlDd]?)(?![A-Za-z0-9_])
  | (?P<str>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<bq>`[^`]*`)
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=>|<=|>=|<>|!=|==|\|\||[-+*/%()=<>,])
""", re.X)

_KEYWORDS = {"AND", "OR", "NOT", "IS", "NULL", "IN", "CASE", "WHEN", "THEN", "ELSE", "END",
             "TRUE", "FALSE", "CAST", "AS", "BETWEEN", "LIKE"}

_FUNCS = {"coalesce", "if", "nvl", "concat", "upper", "lower", "abs", "length"}


def _unescape(body, quote):
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(nxt, nxt))
            i += 2
            continue
        if c == quote and i + 1 < len(body) and body[i + 1] == quote:
            out.append(quote)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _tokenize(text):
    toks = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise OracleError("expression %r: unexpected character %r at offset %d"
                              % (text, text[pos], pos))
        pos = m.end()
        if m.group("ws"):
            continue
        if m.group("num") is not None:
            toks.append(("num", m.group("num"), m.group("suffix").upper()))
        elif m.group("str") is not None:
            s = m.group("str")
            toks.append(("str", _unescape(s[1:-1], s[0]), None))
        elif m.group("bq") is not None:
            toks.append(("id", m.group("bq")[1:-1], "quoted"))
        elif m.group("id") is not None:
            word = m.group("id")
            if word.upper() in _KEYWORDS:
                toks.append(("kw", word.upper(), None))
            else:
                toks.append(("id", word, None))
        else:
            toks.append(("op", m.group("op"), None))
    toks.append(("eof", None, None))
    return toks


class _Parser:
    """Recursive descent over the supported Spark SQL subset; builds a tuple AST."""

    def __init__(self, text):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def fail(self, what):
        tok = self.toks[self.i]
        got = "end of expression" if tok[0] == "eof" else repr(tok[1])
        raise OracleError("expression %r: expected %s, got %s" % (self.text, what, got))

    def peek(self, kind, value=None):
        tok = self.toks[self.i]
        return tok[0] == kind and (value is None or tok[1] == value)

    def accept(self, kind, value=None):
        if self.peek(kind, value):
            self.i += 1
            return self.toks[self.i - 1]
        return None

    def expect(self, kind, value=None):
        tok = self.accept(kind, value)
        if tok is None:
            self.fail(value or kind)
        return tok

    def parse(self):
        node = self.or_()
        if not self.peek("eof"):
            self.fail("end of expression (unsupported syntax)")
        return node

    def or_(self):
        node = self.and_()
        while self.accept("kw", "OR"):
            node = ("or", node, self.and_())
        return node

    def and_(self):
        node = self.not_()
        while self.accept("kw", "AND"):
            node = ("and", node, self.not_())
        return node

    def not_(self):
        if self.accept("kw", "NOT"):
            return ("not", self.not_())
        return self.pred()

    def pred(self):
        node = self.concat()
        while True:
            tok = self.toks[self.i]
            if tok[0] == "op" and tok[1] in ("=", "==", "!=", "<>", "<", "<=", ">", ">=", "<=>"):
                self.i += 1
                node = ("cmp", tok[1], node, self.concat())
            elif self.accept("kw", "IS"):
                neg = bool(self.accept("kw", "NOT"))
                self.expect("kw", "NULL")
                node = ("isnull", node, neg)
            else:
                neg = False
                save = self.i
                if self.accept("kw", "NOT"):
                    neg = True
                if self.accept("kw", "IN"):
                    self.expect("op", "(")
                    items = [self.or_()]
                    while self.accept("op", ","):
                        items.append(self.or_())
                    self.expect("op", ")")
                    node = ("in", node, items, neg)
                elif self.accept("kw", "BETWEEN"):
                    lo = self.concat()
                    self.expect("kw", "AND")
                    hi = self.concat()
                    node = ("between", node, lo, hi, neg)
                elif self.accept("kw", "LIKE"):
                    node = ("like", node, self.concat(), neg)
                else:
                    self.i = save
                    return node

    def concat(self):
        node = self.add()
        while self.accept("op", "||"):
            node = ("func", "concat", [node, self.add()])
        return node

    def add(self):
        node = self.mul()
        while True:
            tok = self.accept("op", "+") or self.accept("op", "-")
            if not tok:
                return node
            node = ("arith", tok[1], node, self.mul())

    def mul(self):
        node = self.unary()
        while True:
            tok = self.accept("op", "*") or self.accept("op", "/") or self.accept("op", "%")
            if not tok:
                return node
            node = ("arith", tok[1], node, self.unary())

    def unary(self):
        if self.accept("op", "-"):
            return ("neg", self.unary())
        if self.accept("op", "+"):
            return self.unary()
        return self.primary()

    def primary(self):
        tok = self.toks[self.i]
        if tok[0] == "num":
            self.i += 1
            text, suffix = tok[1], tok[2]
            if suffix == "D" or any(c in text for c in ".eE"):
                return ("lit", float(text), "double")
            n = int(text)
            if suffix == "L" or n > INT_MAX:
                return ("lit", n, "long")
            return ("lit", n, "int")
        if tok[0] == "str":
            self.i += 1
            return ("lit", tok[1], "string")
        if self.accept("kw", "NULL"):
            return ("lit", None, "null")
        if self.accept("kw", "TRUE"):
            return ("lit", True, "boolean")
        if self.accept("kw", "FALSE"):
            return ("lit", False, "boolean")
        if self.accept("op", "("):
            node = self.or_()
            self.expect("op", ")")
            return node
        if self.accept("kw", "CASE"):
            base = None
            if not self.peek("kw", "WHEN"):
                base = self.or_()
            arms = []
            while self.accept("kw", "WHEN"):
                cond = self.or_()
                self.expect("kw", "THEN")
                arms.append((cond, self.or_()))
            if not arms:
                self.fail("WHEN")
            other = self.or_() if self.accept("kw", "ELSE") else ("lit", None, "null")
            self.expect("kw", "END")
            return ("case", base, arms, other)
        if self.accept("kw", "CAST"):
            self.expect("op", "(")
            node = self.or_()
            self.expect("kw", "AS")
            tname = self.expect("id")[1]
            if self.peek("op", "("):
                self.fail("a simple type name (parameterised types are unsupported)")
            self.expect("op", ")")
            return ("cast", node, norm_type(tname))
        if tok[0] == "id":
            self.i += 1
            if tok[2] != "quoted" and self.accept("op", "("):
                fname = tok[1].lower()
                if fname not in _FUNCS:
                    raise OracleError("expression %r: unsupported function %s (supported: %s)"
                                      % (self.text, tok[1], ", ".join(sorted(_FUNCS))))
                args = []
                if not self.accept("op", ")"):
                    args.append(self.or_())
                    while self.accept("op", ","):
                        args.append(self.or_())
                    self.expect("op", ")")
                return ("func", fname, args)
            return ("col", tok[1])
        self.fail("a value")
        return None


def _bool3_and(a, b):
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _bool3_or(a, b):
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _cmp_values(a, ta, b, tb):
    """Brings a and b to a comparable form (Spark casts a string side to the numeric side)."""
    if is_num_type(ta) and tb == "string":
        b = spark_cast(b, "double" if is_float_type(ta) else "long")
    elif is_num_type(tb) and ta == "string":
        a = spark_cast(a, "double" if is_float_type(tb) else "long")
    elif (ta == "boolean") != (tb == "boolean") and "null" not in (ta, tb):
        raise OracleError("cannot compare %s with %s" % (ta, tb))
    return a, b


def _compare(op, a, b):
    if op == "<=>":
        return a == b if (a is not None and b is not None) else (a is None and b is None)
    if a is None or b is None:
        return None
    if isinstance(a, float) and a != a or isinstance(b, float) and b != b:
        # Spark orders NaN above every number and equal to itself.
        ka = (1, 0) if a != a else (0, a)
        kb = (1, 0) if b != b else (0, b)
        a, b = ka, kb
    if op in ("=", "=="):
        return a == b
    if op in ("!=", "<>"):
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def compile_expr(text, schema):
    """Compiles a Spark SQL expression over columns of `schema` ({name: type}).

    Returns (fn(row) -> value, result type).  Supported: column refs (plain or
    `quoted`), int/long/double/string/boolean/NULL literals, + - * / %, unary -,
    || , = == != <> < <= > >= <=>, AND OR NOT, IS [NOT] NULL, [NOT] IN (...),
    [NOT] BETWEEN, [NOT] LIKE, CASE [x] WHEN ... END, CAST(x AS type),
    COALESCE, IF, NVL, CONCAT, UPPER, LOWER, ABS, LENGTH.  Anything else raises
    OracleError naming the expression.
    """
    if not isinstance(text, str) or not text.strip():
        raise OracleError("expression %r: expected a non-empty SQL expression" % (text,))
    node = _Parser(text).parse()
    try:
        return _compile_node(node, schema)
    except OracleError as e:
        raise OracleError("expression %r: %s" % (text, e)) from None


def _compile_node(node, schema):  # noqa: C901 - one dispatch per AST node kind
    kind = node[0]
    if kind == "col":
        name = node[1]
        if name not in schema:
            raise OracleError("unknown column %r (available: %s)"
                              % (name, ", ".join(sorted(schema))))
        return (lambda r: r.get(name)), schema[name]
    if kind == "lit":
        v = node[1]
        return (lambda r: v), node[2]
    if kind == "neg":
        f, t = _compile_node(node[1], schema)
        if not is_num_type(t) and t != "null":
            raise OracleError("unary minus needs a number, got %s" % t)

        def neg(r):
            v = f(r)
            if v is None:
                return None
            return wrap_int(-v, t) if is_int_type(t) else -v
        return neg, t
    if kind == "arith":
        op = node[1]
        fa, ta = _compile_node(node[2], schema)
        fb, tb = _compile_node(node[3], schema)
        for t in (ta, tb):
            if t not in _NUM_RANK and t not in ("null", "string"):
                raise OracleError("operator %s needs numbers, got %s" % (op, t))
        # Spark casts string operands of arithmetic to double.
        ta2 = "double" if ta == "string" else ta
        tb2 = "double" if tb == "string" else tb
        rt = "double" if op == "/" else wider(ta2, tb2)
        if rt == "null":
            rt = "double" if op == "/" else "int"

        def arith(r):
            a, b = fa(r), fb(r)
            if a is None or b is None:
                return None
            if ta == "string":
                a = spark_cast(a, "double")
            if tb == "string":
                b = spark_cast(b, "double")
            if a is None or b is None:
                return None
            if op == "/":
                if b == 0:
                    return None
                return float(a) / float(b)
            if op == "%":
                if b == 0:
                    return None
                if is_int_type(rt):
                    q = abs(a) // abs(b)
                    return wrap_int(a - b * (q if (a >= 0) == (b >= 0) else -q), rt)
                return math.fmod(float(a), float(b))
            if is_int_type(rt):
                v = a + b if op == "+" else a - b if op == "-" else a * b
                return wrap_int(v, rt)
            a, b = float(a), float(b)
            return a + b if op == "+" else a - b if op == "-" else a * b
        return arith, rt
    if kind == "cmp":
        op = node[1]
        fa, ta = _compile_node(node[2], schema)
        fb, tb = _compile_node(node[3], schema)

        def cmp(r):
            a, b = _cmp_values(fa(r), ta, fb(r), tb)
            return _compare(op, a, b)
        return cmp, "boolean"
    if kind == "and" or kind == "or":
        fa, _ = _compile_node(node[1], schema)
        fb, _ = _compile_node(node[2], schema)
        comb = _bool3_and if kind == "and" else _bool3_or
        return (lambda r: comb(fa(r), fb(r))), "boolean"
    if kind == "not":
        fa, _ = _compile_node(node[1], schema)

        def not_(r):
            v = fa(r)
            return None if v is None else not v
        return not_, "boolean"
    if kind == "isnull":
        fa, _ = _compile_node(node[1], schema)
        neg = node[2]
        return (lambda r: (fa(r) is None) != neg), "boolean"
    if kind == "in":
        fa, ta = _compile_node(node[1], schema)
        items = [_compile_node(x, schema) for x in node[2]]
        neg = node[3]

        def in_(r):
            a = fa(r)
            if a is None:
                return None
            saw_null = False
            for fi, ti in items:
                x, y = _cmp_values(a, ta, fi(r), ti)
                c = _compare("=", x, y)
                if c is True:
                    return not neg
                if c is None:
                    saw_null = True
            return None if saw_null else neg
        return in_, "boolean"
    if kind == "between":
        fa, ta = _compile_node(node[1], schema)
        flo, tlo = _compile_node(node[2], schema)
        fhi, thi = _compile_node(node[3], schema)
        neg = node[4]

        def between(r):
            a = fa(r)
            x1, y1 = _cmp_values(a, ta, flo(r), tlo)
            x2, y2 = _cmp_values(a, ta, fhi(r), thi)
            v = _bool3_and(_compare(">=", x1, y1), _compare("<=", x2, y2))
            return None if v is None else v != neg
        return between, "boolean"
    if kind == "like":
        fa, _ = _compile_node(node[1], schema)
        fp, _ = _compile_node(node[2], schema)
        neg = node[3]

        def like(r):
            a, p = fa(r), fp(r)
            if a is None or p is None:
                return None
            rx = ""
            i = 0
            while i < len(p):
                c = p[i]
                if c == "\\" and i + 1 < len(p):
                    rx += re.escape(p[i + 1])
                    i += 2
                    continue
                rx += ".*" if c == "%" else "." if c == "_" else re.escape(c)
                i += 1
            return (re.fullmatch(rx, str(a), re.S) is not None) != neg
        return like, "boolean"
    if kind == "case":
        base = _compile_node(node[1], schema) if node[1] is not None else None
        arms = [(_compile_node(c, schema), _compile_node(v, schema)) for c, v in node[2]]
        other = _compile_node(node[3], schema)
        rt = other[1]
        for _, (_, tv) in arms:
            rt = wider(rt, tv)

        def case(r):
            if base is not None:
                b = base[0](r)
            for (fc, tc), (fv, _) in arms:
                if base is not None:
                    x, y = _cmp_values(b, base[1], fc(r), tc)
                    hit = _compare("=", x, y) is True
                else:
                    hit = fc(r) is True
                if hit:
                    return _coerce_branch(fv(r), rt)
            return _coerce_branch(other[0](r), rt)
        return case, rt
    if kind == "cast":
        fa, _ = _compile_node(node[1], schema)
        t = node[2]
        return (lambda r: spark_cast(fa(r), t)), t
    if kind == "func":
        name, args = node[1], [_compile_node(a, schema) for a in node[2]]
        return _compile_func(name, args)
    raise OracleError("unsupported syntax %r" % (kind,))


def _coerce_branch(v, t):
    if v is None or t in ("null", "string") and isinstance(v, str):
        return v
    if is_float_type(t) and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if t == "string" and not isinstance(v, str):
        return spark_cast(v, "string")
    return v


def _compile_func(name, args):
    def need(n):
        if len(args) != n:
            raise OracleError("%s takes %d arguments, got %d" % (name.upper(), n, len(args)))
    if name in ("coalesce", "nvl"):
        if not args or (name == "nvl" and len(args) != 2):
            raise OracleError("%s needs arguments" % name.upper())
        rt = "null"
        for _, t in args:
            rt = wider(rt, t)

        def coalesce(r):
            for f, _ in args:
                v = f(r)
                if v is not None:
                    return _coerce_branch(v, rt)
            return None
        return coalesce, rt
    if name == "if":
        need(3)
        (fc, _), (fa, ta), (fb, tb) = args
        rt = wider(ta, tb)
        return (lambda r: _coerce_branch(fa(r) if fc(r) is True else fb(r), rt)), rt
    if name == "concat":
        def concat(r):
            parts = []
            for f, t in args:
                v = f(r)
                if v is None:
                    return None
                parts.append(spark_cast(v, "string"))
            return "".join(parts)
        return concat, "string"
    if name in ("upper", "lower"):
        need(1)
        f = args[0][0]

        def case_fn(r):
            v = f(r)
            if v is None:
                return None
            v = spark_cast(v, "string")
            return v.upper() if name == "upper" else v.lower()
        return case_fn, "string"
    if name == "abs":
        need(1)
        f, t = args[0]

        def abs_(r):
            v = f(r)
            return None if v is None else (wrap_int(abs(v), t) if is_int_type(t) else abs(v))
        return abs_, t
    if name == "length":
        need(1)
        f = args[0][0]

        def length(r):
            v = f(r)
            return None if v is None else len(spark_cast(v, "string"))
        return length, "int"
    raise OracleError("unsupported function %s" % name)


# --------------------------------------------------------------------------- tables

class Table:
    """A partitioned table: rows (dicts including the partition column) plus a schema."""

    def __init__(self, name, rows, schema, origin):
        self.name = name
        self.rows = rows
        self.schema = schema
        self.origin = origin

    @staticmethod
    def from_rows(name, rows, schema=None, partition_column="ds"):
        """Builds a table from dicts; without a schema, types come from the values."""
        rows = [dict(r) for r in rows]
        given = {c: norm_type(t) for c, t in (schema or {}).items()}
        # Columns without a declared type take the type of their values.
        inferred = {}
        for r in rows:
            for c, v in r.items():
                if c not in given:
                    inferred[c] = wider(inferred.get(c, "null"), value_type(v))
        schema = {c: ("string" if t == "null" else t) for c, t in inferred.items()}
        schema.update(given)
        for i, r in enumerate(rows):
            for c in list(r):
                t = schema[c]
                if c in given:
                    try:
                        r[c] = spark_cast(r[c], t)
                    except OracleError as e:
                        raise OracleError("table %s row %d column %s: %s"
                                          % (name, i + 1, c, e)) from None
                elif is_float_type(t) and isinstance(r[c], int) and not isinstance(r[c], bool):
                    r[c] = float(r[c])   # a mix of ints and floats is a double column
            for c in schema:
                r.setdefault(c, None)
        schema.setdefault(partition_column, "string")
        for i, r in enumerate(rows):
            p = r.get(partition_column)
            if not isinstance(p, str):
                raise OracleError("table %s row %d: partition column %s is %r, expected yyyy-MM-dd"
                                  % (name, i + 1, partition_column, p))
            ds_to_epoch(p)
        return Table(name, rows, schema, "rows")


def _csv_default_type(col):
    """Chronon's quickstart loader: ts, *_price and *_amt are long, everything else string."""
    if col == "ts" or col.endswith("_price") or col.endswith("_amt"):
        return "long"
    return "string"


def load_table(name, path, schema_path=None):
    """Loads a CSV (header line) or JSON-lines file.  A schema sidecar ({col: type}) is
    taken from schema_path, else from `<path>.schema.json` when that file exists."""
    if schema_path is None and os.path.exists(path + ".schema.json"):
        schema_path = path + ".schema.json"
    schema = None
    if schema_path is not None:
        try:
            with open(schema_path, encoding="utf-8") as f:
                schema = json.load(f)
        except (OSError, ValueError) as e:
            raise OracleError("schema %s: %s" % (schema_path, e)) from None
        if not isinstance(schema, dict):
            raise OracleError("schema %s: expected a JSON object {column: type}" % schema_path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except OSError as e:
        raise OracleError("table %s: cannot read %s: %s" % (name, path, e)) from None
    if path.endswith(".csv"):
        reader = csv.reader(text.splitlines())
        try:
            header = next(reader)
        except StopIteration:
            raise OracleError("table %s: %s is empty, expected a header line" % (name, path))
        types = {c: norm_type(schema[c]) if schema and c in schema else _csv_default_type(c)
                 for c in header}
        types["ds"] = types.get("ds", "string")
        rows = []
        for lineno, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) != len(header):
                raise OracleError("table %s: %s line %d has %d fields, expected %d"
                                  % (name, path, lineno, len(fields), len(header)))
            row = {}
            for c, v in zip(header, fields):
                t = types[c]
                if v == "":
                    row[c] = None
                elif t == "string":
                    row[c] = v
                elif t.startswith("list<") or t.startswith("map<"):
                    row[c] = spark_cast(json.loads(v), t)
                else:
                    cv = spark_cast(v, t)
                    if cv is None:
                        raise OracleError("table %s: %s line %d column %s: %r is not a %s"
                                          % (name, path, lineno, c, v, t))
                    row[c] = cv
            rows.append(row)
        table = Table(name, rows, types, path)
    else:
        rows = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise OracleError("table %s: %s line %d: invalid JSON: %s"
                                  % (name, path, lineno, e)) from None
            if not isinstance(obj, dict):
                raise OracleError("table %s: %s line %d: expected a JSON object"
                                  % (name, path, lineno))
            rows.append(obj)
        table = Table.from_rows(name, rows, schema)
        table.origin = path
    for i, r in enumerate(table.rows):
        if not isinstance(r.get("ds"), str):
            raise OracleError("table %s: %s row %d has no ds partition (yyyy-MM-dd)"
                              % (name, path, i + 1))
    return table


# --------------------------------------------------------------------------- operations (§3, §4)

OPERATIONS = {
    0: "MIN", 1: "MAX", 2: "FIRST", 3: "LAST", 4: "UNIQUE_COUNT", 5: "APPROX_UNIQUE_COUNT",
    6: "COUNT", 7: "SUM", 8: "AVERAGE", 9: "VARIANCE", 10: "SKEW", 11: "KURTOSIS",
    12: "APPROX_PERCENTILE", 13: "LAST_K", 14: "FIRST_K", 15: "TOP_K", 16: "BOTTOM_K",
    17: "HISTOGRAM", 18: "APPROX_HISTOGRAM_K", 19: "BOUNDED_UNIQUE_COUNT",
}
DELETABLE = {"COUNT", "SUM", "AVERAGE", "HISTOGRAM"}          # §4: exactly these
TIMED = {"FIRST", "LAST", "FIRST_K", "LAST_K"}                # payloads are opaque
_K_REQUIRED = {"LAST_K", "FIRST_K", "TOP_K", "BOTTOM_K"}
_K_DEFAULT = {"APPROX_UNIQUE_COUNT": 8, "BOUNDED_UNIQUE_COUNT": 8, "APPROX_PERCENTILE": 128,
              "HISTOGRAM": 0, "APPROX_HISTOGRAM_K": 8}
_NUM_OPS = {"SUM", "AVERAGE", "VARIANCE", "SKEW", "KURTOSIS", "APPROX_PERCENTILE"}
_ORDERED_OPS = {"MIN", "MAX", "TOP_K", "BOTTOM_K"}
_DISTINCT_OPS = {"UNIQUE_COUNT", "APPROX_UNIQUE_COUNT", "BOUNDED_UNIQUE_COUNT"}


def _is_nan(x):
    return isinstance(x, float) and x != x


def _natural_key(v):
    """Natural order of scalars; strings by UTF-16 code units (D17); NaN above all numbers."""
    if isinstance(v, str):
        return (0, v.encode("utf-16-be"))
    if isinstance(v, bytes):
        return (0, v)
    if isinstance(v, bool):
        return (0, int(v))
    if isinstance(v, float) and v != v:
        return (1, 0)
    if isinstance(v, (int, float)):
        return (0, v)
    return (0, canonical_json(v))


def canonical_json(v):
    """Canonical encoding of a complex payload, used only to break ties (D15)."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(o):
    if isinstance(o, bytes):
        return base64.b64encode(o).decode("ascii")
    raise TypeError("not JSON serialisable: %r" % (o,))


def _distinct_key(v):
    """Java boxed equality (D16): all NaNs equal, -0.0 != 0.0, binary by content."""
    if isinstance(v, float):
        return ("f", "nan") if v != v else ("f", struct.pack(">d", v))
    if isinstance(v, bool):
        return ("z", v)
    if isinstance(v, int):
        return ("i", v)
    if isinstance(v, bytes):
        return ("b", v)
    return ("s", v)


def _welford(xs):
    n, mean, m2 = 0, 0.0, 0.0
    for x in xs:
        x = float(x)
        n += 1
        d = x - mean
        mean += d / n
        m2 += d * (x - mean)
    return n, mean, m2


def _moments(xs):
    n, mean, m2, m3, m4 = 0, 0.0, 0.0, 0.0, 0.0
    for x in xs:
        x = float(x)
        n1 = n
        n += 1
        d = x - mean
        dn = d / n
        dn2 = dn * dn
        t = d * dn * n1
        mean += dn
        m4 += t * dn2 * (n * n - 3 * n + 3) + 6 * dn2 * m2 - 4 * dn * m3
        m3 += t * dn * (n - 2) - 3 * dn * m2
        m2 += t
    return n, mean, m2, m3, m4


def parse_percentiles(text, where):
    try:
        ps = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        ps = None
    if not isinstance(ps, list) or not ps or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 1 for p in ps):
        raise OracleError("%s: argMap.percentiles is %r, expected a JSON list of numbers in [0,1]"
                          % (where, text))
    return [float(p) for p in ps]


def percentile_of(sorted_vals, p):
    """§4 APPROX_PERCENTILE rank rule on an exactly sorted stream."""
    n = len(sorted_vals)
    if p == 0:
        return sorted_vals[0]
    if p == 1:
        return sorted_vals[-1]
    return sorted_vals[min(int(math.floor(p * n)), n - 1)]


def _hist_key_str(x):
    """APPROX_HISTOGRAM_K keys (D26): String.valueOf of the input."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return java_double_str(x)
    return x


def _top_counts(counts, k):
    """Keeps the k largest counts; ties keep byte-wise smaller keys (D15)."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode("utf-8")))
    return dict(items[:k])


def agg_scalar(part, vals, elem_type):
    """Aggregates scalar inputs [(ts, value, sign)] of one part.  Returns (present, value);
    present=False is a null IR (no non-null input seen, N2).  NaN is kept here; N4 is
    applied to the top level only, by finalize_top."""
    op = part.op
    deletable = op in DELETABLE
    use = [(ts, x, s) for ts, x, s in vals
           if x is not None and (s > 0 or deletable) and (op not in TIMED or ts is not None)]
    if not use:
        return False, None
    xs = [x for _, x, s in use if s > 0]
    if op == "COUNT":
        return True, sum(s for _, _, s in use)
    if op == "SUM":
        if is_float_type(elem_type):
            total = 0.0
            for _, x, s in use:
                total += s * float(x)
            return True, total
        return True, wrap_int(sum(s * int(x) for _, x, s in use))
    if op == "AVERAGE":
        total, cnt = 0.0, 0
        for _, x, s in use:
            total += s * float(x)
            cnt += s
        return True, (float("nan") if cnt == 0 else total / cnt)
    if op == "VARIANCE":
        n, _, m2 = _welford(xs)
        return True, m2 / n
    if op in ("SKEW", "KURTOSIS"):
        n, _, m2, m3, m4 = _moments(xs)
        if op == "SKEW":
            ok = n >= 3 and m2 != 0
            return True, (math.sqrt(n) * m3 / m2 ** 1.5 if ok else float("nan"))
        ok = n >= 4 and m2 != 0
        return True, (n * m4 / (m2 * m2) - 3 if ok else float("nan"))
    if op in ("MIN", "MAX"):
        if any(_is_nan(x) for x in xs):  # D20: NaN propagates
            return True, float("nan")
        return True, (min if op == "MIN" else max)(xs, key=_natural_key)
    if op in ("TOP_K", "BOTTOM_K"):
        return True, sorted(xs, key=_natural_key, reverse=(op == "TOP_K"))[:part.k]
    if op in ("FIRST", "LAST", "FIRST_K", "LAST_K"):
        pairs = sorted(((ts, x) for ts, x, _ in use), key=lambda p: (p[0], _natural_key(p[1])),
                       reverse=op in ("LAST", "LAST_K"))
        if op in ("FIRST", "LAST"):
            return True, pairs[0][1]
        return True, [x for _, x in pairs[:part.k]]
    if op in _DISTINCT_OPS:
        n = len({_distinct_key(x) for x in xs})
        return True, (min(n, part.k) if op == "BOUNDED_UNIQUE_COUNT" else n)
    if op == "APPROX_PERCENTILE":
        fs = sorted(to_float32(float(x)) for x in xs if not _is_nan(x))
        if not fs:
            return False, None
        return True, [percentile_of(fs, p) for p in part.percentiles]
    if op == "HISTOGRAM":
        counts = {}
        for _, x, s in use:
            c = counts.get(x, 0) + s
            if c == 0:
                counts.pop(x, None)
            else:
                counts[x] = c
        return True, (_top_counts(counts, part.k) if part.k > 0 else counts)
    if op == "APPROX_HISTOGRAM_K":
        counts = {}
        for x in xs:
            key = _hist_key_str(x)
            counts[key] = counts.get(key, 0) + 1
        return True, (counts if len(counts) <= part.k else _top_counts(counts, part.k))
    raise OracleError("operation %s is not implemented" % op)


def agg_values(part, vals):
    """Aggregates [(ts, value, sign)] of one (unbucketed) part, unpacking containers (§3)."""
    t = part.in_type
    if part.op in TIMED:
        return agg_scalar(part, vals, t)
    elem = list_elem(t)
    if elem is not None and part.element_wise:
        lists = [(ts, x, s) for ts, x, s in vals
                 if x is not None and (s > 0 or part.op in DELETABLE)]
        if not lists:
            return False, None
        width = len(lists[0][1])
        for _, x, _ in lists:
            if len(x) != width:
                raise OracleError("%s: element-wise lists of one key have lengths %d and %d"
                                  % (part.name, width, len(x)))
            if any(e is None for e in x):
                raise OracleError("%s: element-wise list %r has a null element" % (part.name, x))
        out = []
        for i in range(width):
            _, v = agg_scalar(part, [(ts, x[i], s) for ts, x, s in lists], elem)
            out.append(v)
        return True, out
    if elem is not None:
        flat = [(ts, e, s) for ts, x, s in vals if x is not None for e in x]
        return agg_scalar(part, flat, elem)
    mval = map_value(t)
    if mval is not None:
        per_key = {}
        for ts, x, s in vals:
            if x is None:
                continue
            for k, e in x.items():
                if e is not None:
                    per_key.setdefault(k, []).append((ts, e, s))
        out = {}
        for k in sorted(per_key):
            present, v = agg_scalar(part, per_key[k], mval)
            if present:
                out[k] = v
        return (bool(out), out if out else None)
    return agg_scalar(part, vals, t)


def agg_part(part, entries):
    """Value of one part over member entries [(ts, row, sign)], before N4."""
    def value(row):
        return row.get(part.input)
    if part.bucket is None:
        return agg_values(part, [(ts, value(r), s) for ts, r, s in entries])
    groups = {}
    for ts, r, s in entries:
        b = r.get(part.bucket)
        if b is None:      # a null bucket value skips the row for this part (§3)
            continue
        groups.setdefault(b, []).append((ts, value(r), s))
    out = {}
    for b in sorted(groups):
        present, v = agg_values(part, groups[b])
        if present:
            out[b] = v
    return (bool(out), out if out else None)


def finalize_top(v):
    """N4/D3: a top-level NaN or +-Inf becomes null; nested values are kept."""
    if isinstance(v, float) and (v != v or math.isinf(v)):
        return None
    return v


class Part:
    """One output column: (aggregation, bucket, window) of §3."""

    def __init__(self, agg, window, bucket, in_type, where):
        self.input = agg.get("inputColumn")
        if not self.input:
            raise OracleError("%s: aggregation has no inputColumn" % where)
        op = agg.get("operation", 3)  # the DSL's default operation is LAST
        if op not in OPERATIONS:
            raise OracleError("%s: operation %r is not one of %s" % (where, op, sorted(OPERATIONS)))
        self.op = OPERATIONS[op]
        args = agg.get("argMap") or {}
        self.element_wise = bool(agg.get("elementWise"))
        self.bucket = bucket
        self.in_type = in_type
        if "k" in args:
            try:
                self.k = int(args["k"])
            except (TypeError, ValueError):
                raise OracleError("%s: argMap.k is %r, expected an integer" % (where, args["k"]))
        elif self.op in _K_REQUIRED:
            raise OracleError("%s: %s needs argMap.k" % (where, self.op))
        else:
            self.k = _K_DEFAULT.get(self.op)
        self.percentiles = None
        if self.op == "APPROX_PERCENTILE":
            self.percentiles = parse_percentiles(args.get("percentiles", "[0.5]"), where)
        self.window_ms, suffix = window_of(window, where)
        opname = self.op.lower()
        if self.op in _K_REQUIRED:
            opname = {"LAST_K": "last", "FIRST_K": "first", "TOP_K": "top",
                      "BOTTOM_K": "bottom"}[self.op] + str(self.k)
        self.name = "%s_%s%s%s" % (self.input, opname, suffix,
                                   "_by_" + bucket if bucket else "")
        self._validate(where)

    def _validate(self, where):
        t = self.in_type
        if self.op in TIMED:
            return
        if self.element_wise and list_elem(t) is None:
            raise OracleError("%s: elementWise needs a list input, %s is %s"
                              % (where, self.input, t))
        if self.bucket and (map_value(t) is not None or self.element_wise):
            raise OracleError("%s: maps and element-wise lists cannot be bucketed" % where)
        elem = list_elem(t) or map_value(t) or t
        if elem in ("null",):
            return
        ok = True
        if self.op == "SUM":
            ok = is_num_type(elem) or elem == "boolean"
        elif self.op in _NUM_OPS:
            ok = is_num_type(elem)
        elif self.op in _ORDERED_OPS:
            ok = is_num_type(elem) or elem == "string"
        elif self.op in _DISTINCT_OPS:
            ok = is_num_type(elem) or elem in ("string", "binary")
        elif self.op == "HISTOGRAM":
            ok = elem == "string"
        elif self.op == "APPROX_HISTOGRAM_K":
            ok = elem in ("byte", "short", "int", "long", "float", "double", "string")
        if not ok:
            raise OracleError("%s: %s does not accept input %s of type %s"
                              % (where, self.op, self.input, t))


def window_of(window, where):
    """(length in ms or None for unwindowed, name suffix) of a Window (§2)."""
    if window is None:
        return None, ""
    length = window.get("length")
    unit = window.get("timeUnit")
    if not isinstance(length, int) or isinstance(length, bool):
        raise OracleError("%s: window length is %r, expected an integer" % (where, length))
    if unit not in (0, 1):
        raise OracleError("%s: window timeUnit is %r, expected 0 (HOURS) or 1 (DAYS)"
                          % (where, unit))
    if unit == 1 and length == INT_MAX:   # Chronon's internal encoding of "unwindowed"
        return None, ""
    if length <= 0:                        # D23
        raise OracleError("%s: window length %d must be > 0" % (where, length))
    if unit == 0:
        return length * HOUR_MS, "_%dh" % length
    return length * DAY_MS, "_%dd" % length


# --------------------------------------------------------------------------- sources (§5 Query)

def _table(tables, name, where):
    if name not in tables:
        raise OracleError("%s: table %s was not given (tables: %s)"
                          % (where, name, ", ".join(sorted(tables)) or "none"))
    return tables[name]


def select_rows(table, query, ts_rule, where, extra=None):
    """Applies a Query: partition bounds, wheres, selects, then ts.

    ts_rule: ("column", expr) evaluates expr; ("ds_end",) gives epoch(ds+1)-1;
    None leaves ts out unless `ts` is selected.  extra maps additional output
    names to expressions (mutation_ts, is_before).  Returns (rows, schema); every
    row carries `ds` (its partition) and `ts`."""
    query = query or {}
    pcol = query.get("partitionColumn") or "ds"
    lo, hi = query.get("startPartition"), query.get("endPartition")
    wheres = [compile_expr(w, table.schema) for w in (query.get("wheres") or [])]
    selects = query.get("selects")
    if selects is None:
        selects = {c: c for c in table.schema if c != pcol}
    compiled = {}
    schema = {}
    for name, expr in selects.items():
        try:
            f, t = compile_expr(expr, table.schema)
        except OracleError as e:
            raise OracleError("%s: select %s: %s" % (where, name, e)) from None
        compiled[name] = f
        schema[name] = t
    ts_fn = None
    if ts_rule is not None and ts_rule[0] == "column":
        ts_fn, tt = compile_expr(ts_rule[1], table.schema)
        if not is_int_type(tt) and tt != "null":
            raise OracleError("%s: timeColumn %r is %s, expected long epoch milliseconds"
                              % (where, ts_rule[1], tt))
    extra_fns = {}
    for name, expr in (extra or {}).items():
        extra_fns[name], schema[name] = compile_expr(expr, table.schema)
    schema["ts"] = "long"
    schema["ds"] = "string"
    rows = []
    for raw in table.rows:
        p = raw.get(pcol)
        if (lo is not None and p < lo) or (hi is not None and p > hi):
            continue
        if not all(w(raw) is True for w, _ in wheres):
            continue
        out = {name: f(raw) for name, f in compiled.items()}
        for name, f in extra_fns.items():
            out[name] = f(raw)
        if ts_fn is not None:
            out["ts"] = ts_fn(raw)
        elif ts_rule is not None and ts_rule[0] == "ds_end":
            out["ts"] = ds_to_epoch(p) + DAY_MS - 1
        else:
            out.setdefault("ts", None)
        out["ds"] = p
        rows.append(out)
    return rows, schema


class SourceData:
    """One GroupBy source after its query: the selected rows of every partition."""

    def __init__(self, src, tables, accuracy, where):
        kinds = [k for k in ("events", "entities", "joinSource") if k in src]
        if len(kinds) != 1:
            raise OracleError("%s: a source must have exactly one of events, entities, joinSource"
                              % where)
        self.kind = kinds[0]
        if self.kind == "joinSource":
            raise OracleError("%s: joinSource sources are not supported by the oracle" % where)
        body = src[self.kind]
        self.query = body.get("query") or {}
        tc = self.query.get("timeColumn")
        if self.kind == "events":
            self.table_name = body.get("table")
            self.cumulative = bool(body.get("isCumulative"))
            self.topic = body.get("topic")
            if tc:
                ts_rule = ("column", tc)
            elif accuracy == "SNAPSHOT":
                ts_rule = ("ds_end",)
            else:
                raise OracleError("%s: TEMPORAL event source %s needs query.timeColumn"
                                  % (where, self.table_name))
        else:
            self.table_name = body.get("snapshotTable")
            self.cumulative = False
            self.topic = body.get("mutationTopic")
            ts_rule = ("column", tc) if tc else None
        if not self.table_name:
            raise OracleError("%s: %s source has no table" % (where, self.kind))
        table = _table(tables, self.table_name, where)
        self.partitions = sorted({r.get(self.query.get("partitionColumn") or "ds")
                                  for r in table.rows})
        self.rows, self.schema = select_rows(table, self.query, ts_rule,
                                             "%s source %s" % (where, self.table_name))
        self.mutation_table = None
        self.mutation_rows = None
        if self.kind == "entities" and body.get("mutationTable"):
            # `ns.t/hr=00:00` names the sub-partition; the table itself is ns.t.
            self.mutation_table = body["mutationTable"].split("/")[0]
            if self.mutation_table in tables:
                mt = tables[self.mutation_table]
                self.mutation_rows, _ = select_rows(
                    mt, self.query, ts_rule, "%s mutations %s" % (where, self.mutation_table),
                    extra={"__mutation_ts": self.query.get("mutationTimeColumn") or "mutation_ts",
                           "__is_before": self.query.get("reversalColumn") or "is_before"})


def _is_before(v):
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "t")
    return bool(v)


# --------------------------------------------------------------------------- GroupBy (§5)

class GroupByModel:
    """A compiled GroupBy conf plus its source rows; answers snapshot and temporal questions."""

    def __init__(self, conf, tables, partition_limit=None):
        meta = conf.get("metaData") or {}
        self.name = meta.get("name")
        if not self.name:
            raise OracleError("groupBy: metaData.name is missing")
        where = "groupBy %s" % self.name
        self.where = where
        self.conf = conf
        self.keys = conf.get("keyColumns") or []
        if not self.keys:
            raise OracleError("%s: keyColumns is empty" % where)
        srcs = conf.get("sources") or []
        if not srcs:
            raise OracleError("%s: sources is empty" % where)
        acc = conf.get("accuracy")
        if acc is None:
            topics = any((s.get("events") or {}).get("topic") or
                         (s.get("entities") or {}).get("mutationTopic") for s in srcs)
            self.accuracy = "TEMPORAL" if topics else "SNAPSHOT"
        elif acc in (0, 1):
            self.accuracy = "TEMPORAL" if acc == 0 else "SNAPSHOT"
        else:
            raise OracleError("%s: accuracy %r is not 0 (TEMPORAL) or 1 (SNAPSHOT)" % (where, acc))
        self.sources = [SourceData(s, tables, self.accuracy, where) for s in srcs]
        kinds = {s.kind for s in self.sources}
        if len(kinds) != 1:
            raise OracleError("%s: sources mix events and entities" % where)
        self.is_entities = kinds == {"entities"}
        self.schema = {}
        for s in self.sources:
            for c, t in s.schema.items():
                self.schema[c] = wider(self.schema.get(c, "null"), t)
        for k in self.keys:
            if k not in self.schema:
                raise OracleError("%s: key column %s is not selected" % (where, k))
        self.aggregations = conf.get("aggregations")
        self.parts = []
        if self.aggregations is not None:
            for i, agg in enumerate(self.aggregations):
                aw = "%s aggregation %d" % (where, i)
                col = agg.get("inputColumn")
                if col not in self.schema:
                    raise OracleError("%s: inputColumn %r is not a selected column" % (aw, col))
                windows = agg.get("windows") or [None]
                for bucket in (agg.get("buckets") or [None]):
                    if bucket is not None and self.schema.get(bucket) != "string":
                        raise OracleError("%s: bucket %r must be a selected string column"
                                          % (aw, bucket))
                    for w in windows:
                        self.parts.append(Part(agg, w, bucket, self.schema[col], aw))
            if (not self.is_entities and self.accuracy == "SNAPSHOT"
                    and any(p.window_ms is not None and p.window_ms % DAY_MS for p in self.parts)):
                raise OracleError("%s: HOURS windows need TEMPORAL accuracy (D21)" % where)
            self.value_columns = [p.name for p in self.parts]
            seen = set()
            for c in self.value_columns:
                if c in seen or c in self.keys:
                    raise OracleError("%s: duplicate output column %s" % (where, c))
                seen.add(c)
        else:
            if not self.is_entities:
                raise OracleError("%s: aggregations may be absent only for entity sources" % where)
            first = self.sources[0].query.get("selects")
            cols = list(first) if first is not None else [
                c for c in self.sources[0].schema if c not in ("ts", "ds")]
            self.value_columns = [c for c in cols if c not in self.keys and c != "ts"]
        self.any_window = any(p.window_ms is not None for p in self.parts)
        self.derivations = conf.get("derivations")
        self.output_table = "%s.%s" % (meta.get("outputNamespace"), clean_name(self.name))

    # -- helpers
    def key_of(self, row):
        return tuple(row.get(k) for k in self.keys)

    def has_partition(self, ds):
        """D22: a day is produced only when some source has that partition."""
        if any(s.cumulative for s in self.sources):
            return True
        return any(ds in s.partitions for s in self.sources)

    def rows_with_keys(self, rows):
        """Step 4 of Query: keep a row when at least one key is non-null."""
        return [r for r in rows if any(r.get(k) is not None for k in self.keys)]

    def event_rows_visible(self, ds, scan_lo=None):
        """Event rows the snapshot of `ds` may see: partitions <= ds (D27), from scan_lo on;
        a cumulative source reads only its latest partition <= ds (§5)."""
        out = []
        for s in self.sources:
            if s.cumulative:
                ps = [r["ds"] for r in s.rows if r["ds"] <= ds]
                if ps:
                    latest = max(ps)
                    out.extend(r for r in s.rows if r["ds"] == latest)
            else:
                out.extend(r for r in s.rows
                           if r["ds"] <= ds and (scan_lo is None or r["ds"] >= scan_lo))
        return self.rows_with_keys(out)

    def entity_rows(self, ds):
        return self.rows_with_keys([r for s in self.sources for r in s.rows if r["ds"] == ds])

    def evaluate(self, entries_for):
        """{column: finalized value} with entries_for(part) -> [(ts, row, sign)]."""
        return {p.name: finalize_top(agg_part(p, entries_for(p))[1]) for p in self.parts}

    def check_ts(self, rows):
        needs = self.any_window or any(p.op in TIMED for p in self.parts)
        if needs and self.schema.get("ts") is not None:
            for r in rows:
                if r.get("ts") is not None and not isinstance(r["ts"], int):
                    raise OracleError("%s: ts %r is not a long" % (self.where, r["ts"]))

    # -- snapshots (§5 Backfill, §2 snapshot membership)
    def snapshot(self, ds, scan_lo=None):
        """{key tuple: {column: value}} of the daily snapshot of `ds`.

        Events: rows kept only when some value is non-null (D6).  Entities: every key of
        partition ds.  No aggregations: {key: [value dicts]} (duplicates are kept so that
        joins can report D10)."""
        end = ds_to_epoch(ds) + DAY_MS
        if self.aggregations is None:
            out = {}
            for r in self.entity_rows(ds):
                out.setdefault(self.key_of(r), []).append(
                    {c: r.get(c) for c in self.value_columns})
            return out
        if self.is_entities:
            rows = self.entity_rows(ds)
        else:
            rows = self.event_rows_visible(ds, scan_lo)
        self.check_ts(rows)
        by_key = {}
        for r in rows:
            by_key.setdefault(self.key_of(r), []).append(r)
        out = {}
        for key, krows in by_key.items():
            def entries_for(p, krows=krows):
                if self.is_entities and not self.any_window:
                    return [(r.get("ts"), r, 1) for r in krows]   # every row counts
                sel = []
                for r in krows:
                    t = r.get("ts")
                    if t is None or t >= end:
                        continue
                    if p.window_ms is not None and t < end - p.window_ms:
                        continue
                    sel.append((t, r, 1))
                return sel
            vals = self.evaluate(entries_for)
            if self.is_entities or any(v is not None for v in vals.values()):
                out[key] = vals
        return out

    # -- temporal (§2 temporal membership, §5 Mutations, §8.1)
    def temporal_events(self, key, q, max_partition=None, min_partition=None):
        """Value at q of a TEMPORAL event GroupBy: floor(q-W,H(W)) <= ts < q, over rows
        stored in [min_partition, max_partition] (either None: unbounded)."""
        rows = [r for s in self.sources for r in s.rows
                if (max_partition is None or r["ds"] <= max_partition)
                and (min_partition is None or r["ds"] >= min_partition)]
        rows = [r for r in self.rows_with_keys(rows) if self.key_of(r) == key]
        self.check_ts(rows)

        def entries_for(p):
            sel = []
            for r in rows:
                t = r.get("ts")
                if t is None or t >= q:
                    continue
                if p.window_ms is not None and t < floor_to(q - p.window_ms, tail_hop(p.window_ms)):
                    continue
                sel.append((t, r, 1))
            return sel
        return self.evaluate(entries_for)

    def temporal_entities(self, key, q):
        """Value at q on day X of a TEMPORAL entity GroupBy (§5 Mutations, D1, D7, D8)."""
        x = day_of(q)
        b = ds_to_epoch(x)
        base = [r for r in self.entity_rows(ds_add(x, -1)) if self.key_of(r) == key]
        muts = []
        for s in self.sources:
            if s.mutation_table is None:
                continue
            if s.mutation_rows is None:
                raise OracleError("%s: mutation table %s was not given"
                                  % (self.where, s.mutation_table))
            for r in s.mutation_rows:
                mt = r.get("__mutation_ts")
                if r["ds"] == x and mt is not None and b <= mt < q:
                    muts.append(r)
        muts = [r for r in self.rows_with_keys(muts) if self.key_of(r) == key]
        muts.sort(key=lambda r: r["__mutation_ts"])
        self.check_ts(base + muts)

        def entries_for(p):
            sel = []
            w = p.window_ms
            for r in base:   # batch IR of snapshot X-1 with B = epoch(X)
                t = r.get("ts")
                if t is None:
                    if w is None:
                        sel.append((t, r, 1))
                    continue
                if t >= b:
                    continue
                if w is not None and (t < b - w or t < floor_to(q - w, tail_hop(w))):
                    continue
                sel.append((t, r, 1))
            for r in muts:   # day X's mutations, mutation_ts order
                t = r.get("ts")
                if t is None or t >= q:
                    continue
                if w is not None and t < floor_to(q - w, tail_hop(w)):
                    continue
                sel.append((t, r, -1 if _is_before(r.get("__is_before")) else 1))
            return sel
        return self.evaluate(entries_for)

    def value_at(self, key, q, max_partition=None):
        """What a left event row at q gets from this GroupBy (§6 point in time):
        SNAPSHOT -> snapshot of day(q)-1; TEMPORAL -> value at q."""
        if self.accuracy == "SNAPSHOT" or self.aggregations is None:
            day = ds_add(day_of(q), -1)
            snap = self.snapshot(day, _scan_lo(self, day))   # per-day lower bound (D29)
            return snap.get(key)
        if self.is_entities:
            return self.temporal_entities(key, q)
        return self.temporal_events(key, q, max_partition, _scan_lo(self, day_of(q)))

    def derive(self, row):
        """GroupBy derivations (§5 Output table): keys, ts if present, derived, ds."""
        if not self.derivations:
            return row
        base_cols = [c for c in row if c not in self.keys and c not in ("ts", "ds")]
        return apply_derivations(self.derivations, row, base_cols,
                                 keep=self.keys + (["ts"] if "ts" in row else []),
                                 schema=self._row_schema(row), where=self.where)

    def _row_schema(self, row):
        schema = dict(self.schema)
        for p in self.parts:
            schema[p.name] = part_output_type(p)
        schema["ds"] = "string"
        return schema


def part_output_type(p):
    """Finalized type of a part (§4 table), used to type derivation inputs."""
    t = p.in_type
    elem = list_elem(t) or map_value(t) or t
    op = p.op
    if op in ("COUNT", "UNIQUE_COUNT", "APPROX_UNIQUE_COUNT", "BOUNDED_UNIQUE_COUNT"):
        base = "long"
    elif op == "SUM":
        base = "double" if is_float_type(elem) else "long"
    elif op in ("AVERAGE", "VARIANCE", "SKEW", "KURTOSIS"):
        base = "double"
    elif op in ("MIN", "MAX"):
        base = elem
    elif op in TIMED:
        return t if op in ("FIRST", "LAST") else "list<%s>" % (t,)
    elif op in ("TOP_K", "BOTTOM_K"):
        base = "list<%s>" % elem
    elif op == "APPROX_PERCENTILE":
        base = "list<float>"
    elif op == "HISTOGRAM":
        base = "map<string,int>"
    else:
        base = "map<string,long>"
    if p.element_wise:
        base = "list<%s>" % base
    elif map_value(t) is not None:
        base = "map<string,%s>" % base
    if p.bucket:
        base = "map<string,%s>" % base
    return base


_DERIVATION_CACHE = {}


def apply_derivations(derivations, row, base_cols, keep, schema, where, extra_cols=()):
    """Derivations with `*` pass-through and renames (§5, §6).  `keep` columns are always
    output first; a derived name equal to a kept or base column, or to one of extra_cols
    (bootstrapped derivation outputs), is coalesce(existing, expr)."""
    verbatim = {d.get("expression", "").strip() for d in derivations if d.get("name") != "*"}
    out = {c: row.get(c) for c in keep}
    for d in derivations:
        name, expr = d.get("name"), d.get("expression")
        if name == "*":
            for c in base_cols:
                if c not in verbatim:
                    out[c] = row.get(c)
            continue
        if not name or not isinstance(expr, str) or not expr.strip():
            raise OracleError("%s: derivation %r needs a name and an expression" % (where, d))
        memo = (expr, tuple(sorted(schema.items())))
        if memo not in _DERIVATION_CACHE:
            _DERIVATION_CACHE[memo] = compile_expr(expr, schema)[0]
        v = _DERIVATION_CACHE[memo](row)
        if name == "ds":
            continue
        if name in keep or name in base_cols or name in extra_cols:
            v = row.get(name) if row.get(name) is not None else v
        out[name] = v
    out["ds"] = row.get("ds")
    return out


def _conf_of(conf):
    if isinstance(conf, str):
        try:
            with open(conf, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise OracleError("conf %s: %s" % (conf, e)) from None
    return conf


def backfill_range(conf, end_ds, start_ds=None, start_field="backfillStartDate"):
    """[override or backfillStartDate, endDs]; historicalBackfill=false gives endDs only (§5).
    Without a start date the range is endDs alone (D28)."""
    meta = conf.get("metaData") or {}
    if meta.get("historicalBackfill") in (0, False):
        return end_ds, end_ds
    start = start_ds or conf.get(start_field) or end_ds
    return start, end_ds


def groupby_snapshot(conf, tables, ds, scan_start=None):
    """Output rows of one GroupBy backfill day (keys, values, ds), unsorted."""
    model = GroupByModel(_conf_of(conf), tables)
    return _snapshot_rows(model, ds, _scan_lo(model, scan_start or ds))


def _scan_lo(model, start):
    """Lower scan bound for events: start - 1d - maxWindow; all history if any part is
    unwindowed or there are no windows at all (§5 Accuracy)."""
    if model.is_entities or not model.parts or any(p.window_ms is None for p in model.parts):
        return None
    max_w = max(p.window_ms for p in model.parts)
    return day_of(ds_to_epoch(start) - DAY_MS - max_w)


def _snapshot_rows(model, ds, scan_lo):
    snap = model.snapshot(ds, scan_lo)
    rows = []
    for key, vals in snap.items():
        base = dict(zip(model.keys, key))
        for v in (vals if model.aggregations is None else [vals]):
            row = dict(base)
            row.update(v)
            row["ds"] = ds
            rows.append(model.derive(row))
    return rows


def groupby_backfill(conf, tables, end_ds, start_ds=None):
    """All output rows of `group-by-backfill` for the range of §5, sorted by (keys, ds).
    Days without any source partition are not produced (D22)."""
    conf = _conf_of(conf)
    model = GroupByModel(conf, tables)
    start, end = backfill_range(conf, end_ds, start_ds)
    scan_lo = _scan_lo(model, start)
    rows = []
    for ds in ds_range(start, end):
        if model.has_partition(ds):
            rows.extend(_snapshot_rows(model, ds, scan_lo))
    return sort_rows(rows, model.keys + ["ds"])


def groupby_value_at(conf, tables, keys, at_ms, max_partition=None):
    """Value of the GroupBy for one key at time at_ms, as a left event row would get it:
    {column: value} (after GroupBy derivations) or None when there is no data."""
    conf = _conf_of(conf)
    model = GroupByModel(conf, tables)
    key = tuple(keys.get(k) for k in model.keys)
    vals = model.value_at(key, at_ms, max_partition)
    return _finish_value(model, key, vals, at_ms)


def _finish_value(model, key, vals, at_ms):
    if vals is None:
        return None
    if model.aggregations is None:
        if len(vals) > 1:
            raise OracleError("%s: key %r has %d rows in one partition (D10)"
                              % (model.where, key, len(vals)))
        vals = vals[0]
    if model.aggregations is not None and not any(v is not None for v in vals.values()) \
            and not (model.is_entities and model.accuracy == "SNAPSHOT"):
        return None
    row = dict(zip(model.keys, key))
    row.update(vals)
    row["ds"] = day_of(at_ms)
    out = model.derive(row)
    return {c: v for c, v in out.items() if c not in model.keys and c not in ("ds", "ts")}


def groupby_values_at(conf, tables, at_ms, max_partition=None):
    """groupby_value_at for every key present in the sources; rows of keys + values,
    only for keys that have a value."""
    conf = _conf_of(conf)
    model = GroupByModel(conf, tables)
    keys = set()
    for s in model.sources:
        for r in model.rows_with_keys(s.rows + (s.mutation_rows or [])):
            if max_partition is None or r["ds"] <= max_partition:
                keys.add(model.key_of(r))
    rows = []
    for key in keys:
        vals = _finish_value(model, key, model.value_at(key, at_ms, max_partition), at_ms)
        if vals is not None:
            row = dict(zip(model.keys, key))
            row.update(vals)
            rows.append(row)
    return sort_rows(rows, model.keys)


# --------------------------------------------------------------------------- Join (§6)

def _join_left(conf, tables, where):
    """The left rows of a join (query applied): (kind, rows, schema, output columns
    without ds, query)."""
    left = conf.get("left") or {}
    if "events" in left:
        lkind, body = "events", left["events"]
        ltable = body.get("table")
        if body.get("isCumulative"):
            raise OracleError("%s: a cumulative left source is not allowed" % where)
    elif "entities" in left:
        lkind, body = "entities", left["entities"]
        ltable = body.get("snapshotTable")
    else:
        raise OracleError("%s: left must be an events or entities source" % where)
    lquery = body.get("query") or {}
    table = _table(tables, ltable, where)
    tc = lquery.get("timeColumn")
    lrows, lschema = select_rows(table, lquery, ("column", tc) if tc else None,
                                 "%s left %s" % (where, ltable))
    selects = lquery.get("selects")
    left_cols = list(selects) if selects is not None else [
        c for c in table.schema if c != (lquery.get("partitionColumn") or "ds")]
    if (tc or lkind == "events") and "ts" not in left_cols and (tc or "ts" in lschema):
        left_cols.append("ts")
    left_cols = [c for c in left_cols if c != "ds"]
    return lkind, lrows, lschema, left_cols, lquery


def _drop_skew(conf, lrows):
    """Left rows without the skewKeys values."""
    skew = conf.get("skewKeys") or {}
    if skew:
        def skewed(r):
            for col, vals in skew.items():
                v = r.get(col)
                if v is not None and any(str(v) == str(x).strip("'\"") for x in vals):
                    return True
            return False
        lrows = [r for r in lrows if not skewed(r)]
    return lrows


def join_backfill(conf, tables, end_ds, start_ds=None):
    """Output rows of a join backfill: one per left row, left outer over every part."""
    conf = _conf_of(conf)
    meta = conf.get("metaData") or {}
    jname = meta.get("name") or "join"
    where = "join %s" % jname
    lkind, lrows, lschema, left_cols, lquery = _join_left(conf, tables, where)
    left_parts = sorted({r["ds"] for r in lrows})
    start = start_ds or lquery.get("startPartition") or (left_parts[0] if left_parts else end_ds)
    end = min(end_ds, lquery["endPartition"]) if lquery.get("endPartition") else end_ds
    lrows = [r for r in lrows if start <= r["ds"] <= end]
    lrows = _drop_skew(conf, lrows)

    parts = []
    for i, jp in enumerate(conf.get("joinParts") or []):
        gb = jp.get("groupBy")
        if not gb:
            raise OracleError("%s: joinParts[%d] has no groupBy" % (where, i))
        model = GroupByModel(gb, tables)
        prefix = jp.get("prefix")
        full = (prefix + "_" if prefix else "") + clean_name(model.name)
        right_to_left = {v: k for k, v in (jp.get("keyMapping") or {}).items()}
        lkeys = [right_to_left.get(k, k) for k in model.keys]
        for lk in lkeys:
            if lk not in lschema:
                raise OracleError("%s: part %s key %s is not a left column" % (where, full, lk))
        cols = _part_columns(model)
        parts.append((model, full, lkeys, cols, {}))
    for i, ep in enumerate(conf.get("onlineExternalParts") or []):
        # an offlineGroupBy makes the external part a join part after the regular ones, its
        # columns named with the external prefix ext_[<prefix>_]<source> (Chronon's
        # getRegularAndExternalJoinParts); its accuracy is the GroupBy's own
        src = ep.get("source") or {}
        gb = src.get("offlineGroupBy")
        if not gb:
            continue
        model = GroupByModel(gb, tables)
        full = _external_prefix(ep)
        right_to_left = {v: k for k, v in (ep.get("keyMapping") or {}).items()}
        for rk in right_to_left:
            if rk not in model.keys:
                raise OracleError("%s: onlineExternalParts[%d] keyMapping value %s is no key of its offlineGroupBy"
                                  % (where, i, rk))
        lkeys = [right_to_left.get(k, k) for k in model.keys]
        for lk in lkeys:
            if lk not in lschema:
                raise OracleError("%s: part %s key %s is not a left column" % (where, full, lk))
        parts.append((model, full, lkeys, _part_columns(model), {}))

    feature_cols = []
    for model, full, _, cols, _ in parts:
        feature_cols.extend("%s_%s" % (full, c) for c in cols)
    derivations = conf.get("derivations")
    exts = _external_columns(conf)
    boots = _bootstrap_parts(conf, tables, lschema, feature_cols + [c for c, _, _ in exts], where)
    deps = [_bootstrap_deps(["%s_%s" % (full, c) for c in cols], derivations)
            for _, full, _, cols, _ in parts]
    boot_derived = [d.get("name") for d in (derivations or [])
                    if d.get("name") != "*" and any(d.get("name") in b[2] for b in boots)]

    out_rows = []
    for r in lrows:
        row = {c: r.get(c) for c in left_cols}
        bvals, have = _bootstrap_row(boots, r)
        for (model, full, lkeys, cols, cache), pdeps in zip(parts, deps):
            covered = all(d in have or all(b in have for b in need) for d, need in pdeps)
            vals = None if covered else _part_value(model, r, lkind, lkeys, cache, where, full)
            for c in cols:
                name = "%s_%s" % (full, c)
                v = vals.get(c) if vals is not None else None
                if bvals.get(name) is not None:   # coalesce(bootstrap, computed)
                    v = bvals[name]
                if name in row:   # a column on both sides: coalesce(left, right)
                    row[name] = row[name] if row[name] is not None else v
                else:
                    row[name] = v
        for name, left_key, _ in exts:   # contextual: coalesce(left key, bootstrap)
            lv = r.get(left_key) if left_key else None
            row[name] = lv if lv is not None else bvals.get(name)
        for name in boot_derived:
            row[name] = bvals.get(name)
        row["ds"] = r["ds"]
        out_rows.append(row)

    if derivations:
        schema = dict(lschema)
        for model, full, _, cols, _ in parts:
            for c, t in _part_column_types(model).items():
                schema["%s_%s" % (full, c)] = t
        base = [c for c in feature_cols if c not in left_cols] + [c for c, _, _ in exts]
        schema.update({c: t for c, _, t in exts})
        for b in boots:
            schema.update({c: t for c, t in b[3].items() if c in boot_derived})
        out_rows = [apply_derivations(derivations, row, base, keep=left_cols, schema=schema,
                                      where=where, extra_cols=boot_derived) for row in out_rows]
    return sort_rows(out_rows, ["ds", "ts"] + left_cols)


def label_join(conf, tables, label_ds):
    """Rows a `label-join` run for label day label_ds writes to <join>_labels, sorted
    (docs/joins.md "Label joins"): the left rows of days [L-(leftStartOffset-1),
    L-(leftEndOffset-1)] reduced to their row identifier (rowIds, else the label parts'
    left keys; plus ds) once each, left outer joined on each label part's keys with the
    part's GroupBy snapshot of day L, then label_ds and ds."""
    conf = _conf_of(conf)
    jname = (conf.get("metaData") or {}).get("name") or "join"
    where = "join %s: labelPart" % jname
    lp = conf.get("labelPart")
    if not lp:
        raise OracleError("join %s has no labelPart" % jname)
    if "events" not in (conf.get("left") or {}):
        raise OracleError("%s: the left must be events" % where)
    so, eo = lp.get("leftStartOffset"), lp.get("leftEndOffset")
    if so is None or eo is None or so < eo:
        raise OracleError("%s: leftStartOffset %s / leftEndOffset %s" % (where, so, eo))
    labels = lp.get("labels") or []
    if not labels:
        raise OracleError("%s: labels is empty" % where)
    for i, jp in enumerate(labels):
        gb = jp.get("groupBy") or {}
        aggs = gb.get("aggregations")
        want = "events" if aggs is not None else "entities"
        if any(want not in src for src in gb.get("sources") or []):
            raise OracleError("%s: labels[%d] sources must be %s" % (where, i, want))
        if aggs is None:
            continue
        wins = aggs[0].get("windows") if len(aggs) == 1 else None
        if not wins or len(wins) != 1 or wins[0].get("timeUnit") != 1:
            raise OracleError("%s: labels[%d] needs one aggregation with one DAYS window" % (where, i))
        if so != wins[0]["length"] or eo != wins[0]["length"] or len(labels) != 1:
            raise OracleError("%s: labels[%d] offsets must equal the window, one label part" % (where, i))
    lo, hi = ds_add(label_ds, -(so - 1)), ds_add(label_ds, -(eo - 1))
    _, lrows, _, left_cols, _ = _join_left(conf, tables, where)
    lrows = _drop_skew(conf, [r for r in lrows if lo <= r["ds"] <= hi])

    parts, rid = [], [c for c in conf.get("rowIds") or [] if c != "ds"]
    for jp in labels:
        model = GroupByModel(jp["groupBy"], tables)
        full = (jp["prefix"] + "_" if jp.get("prefix") else "") + clean_name(model.name)
        right_to_left = {v: k for k, v in (jp.get("keyMapping") or {}).items()}
        lkeys = [right_to_left.get(k, k) for k in model.keys]
        if not conf.get("rowIds"):
            rid += [k for k in lkeys if k not in rid and k != "ds"]
        snap = {}
        for row in groupby_snapshot(jp["groupBy"], tables, label_ds):
            key = tuple(row.get(k) for k in model.keys)
            if all(v is not None for v in key):
                snap.setdefault(key, row)
        parts.append((full, lkeys, _part_columns(model), snap))
    for c in rid:
        if c not in left_cols:
            raise OracleError("%s: row identifier column %s is not a left column" % (where, c))
    order = [c for c in left_cols if c in rid]
    for full, lkeys, cols, _ in parts:
        if any(k not in rid for k in lkeys):
            raise OracleError("%s: part %s key is not a row identifier column" % (where, full))
        keys = list(dict.fromkeys(lkeys))
        order = keys + [c for c in order if c not in keys] + ["%s_%s" % (full, c) for c in cols]

    out, seen = [], set()
    for r in lrows:
        ident = canonical_json([r["ds"]] + [r.get(c) for c in rid])
        if ident in seen:
            continue
        seen.add(ident)
        row = {c: r.get(c) for c in rid}
        for full, lkeys, cols, snap in parts:
            key = tuple(r.get(k) for k in lkeys)
            hit = snap.get(key) if all(v is not None for v in key) else None
            for c in cols:
                row["%s_%s" % (full, c)] = hit.get(c) if hit else None
        out.append({**{c: row[c] for c in order}, "label_ds": label_ds, "ds": r["ds"]})
    return sort_rows(out, ["ds"] + order)


_EXT_KINDS = {0: "boolean", 1: "int", 2: "int", 3: "int", 4: "long", 5: "float", 6: "double", 7: "string",
              8: "binary", 9: "date", 10: "timestamp"}


def _external_prefix(ep):
    """ext_[<prefix>_]<clean source name>: the column prefix of an external part."""
    name = ((ep.get("source") or {}).get("metadata") or {}).get("name") or ""
    prefix = ep.get("prefix")
    return "ext_" + (prefix + "_" if prefix else "") + clean_name(name)


def _external_columns(conf):
    """[(column, left key column or None, type)] of onlineExternalParts offline: null unless
    bootstrapped; a contextual part's value is coalesce(left key, bootstrap)."""
    out = []
    for ep in conf.get("onlineExternalParts") or []:
        src = ep.get("source") or {}
        if src.get("offlineGroupBy"):   # a join part instead (join_backfill)
            continue
        name = (src.get("metadata") or {}).get("name") or ""
        full = _external_prefix(ep)
        to_left = {v: k for k, v in (ep.get("keyMapping") or {}).items()}
        for f in (src.get("valueSchema") or {}).get("params") or []:
            left = to_left.get(f["name"], f["name"]) if name == "contextual" else None
            out.append(("%s_%s" % (full, f["name"]), left,
                        _EXT_KINDS.get((f.get("dataType") or {}).get("kind"), "string")))
    return out


def _bootstrap_parts(conf, tables, lschema, feature_cols, where):
    """bootstrapParts (§6 Bootstrap): [(keys, {(key values..., ds): first row}, columns,
    types)] in order.  Keys are keyColumns or the join's rowIds, plus ds; value columns
    are the query output minus keys, ds and ts, each a feature or derivation name."""
    out = []
    der_names = {d.get("name") for d in (conf.get("derivations") or []) if d.get("name") != "*"}
    for i, bp in enumerate(conf.get("bootstrapParts") or []):
        tname = bp.get("table")
        keys = bp.get("keyColumns") or conf.get("rowIds")
        if not keys:
            raise OracleError("%s: bootstrapParts[%d] (table %s): no keyColumns and no rowIds"
                              % (where, i, tname))
        keys = [k for k in keys if k != "ds"]
        rows, schema = select_rows(_table(tables, tname, where), bp.get("query") or {}, None,
                                   "%s bootstrap %s" % (where, tname))
        for k in keys:
            if k not in lschema or k not in schema:
                raise OracleError("%s: bootstrapParts[%d]: key %s missing (table %s or left)"
                                  % (where, i, k, tname))
        sel = (bp.get("query") or {}).get("selects")
        cols = [c for c in (sel if sel is not None else schema) if c not in keys and c not in ("ds", "ts")]
        for c in cols:
            if c not in feature_cols and c not in der_names:
                raise OracleError("%s: bootstrap table %s has the column %s, which the join does not "
                                  "produce" % (where, tname, c))
        index = {}
        for row in rows:
            kv = tuple(row.get(k) for k in keys)
            if any(v is None for v in kv):
                continue
            index.setdefault(kv + (row["ds"],), row)
        out.append((keys, index, cols, {c: schema[c] for c in cols}))
    return out


def _bootstrap_row(boots, lrow):
    """({column: first non-null bootstrap value}, set of columns of the matched parts)."""
    vals, have = {}, set()
    for keys, index, cols, _ in boots:
        kv = tuple(lrow.get(k) for k in keys)
        m = None if any(v is None for v in kv) else index.get(kv + (lrow["ds"],))
        if m is None:
            continue
        have.update(cols)
        for c in cols:
            if vals.get(c) is None:
                vals[c] = m.get(c)
    return vals, have


_IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _bootstrap_deps(features, derivations):
    """[(column, [features])] a row's bootstraps must cover (column, or all those features)
    for a part to be skipped: each feature without derivations; else per derivation (`*`
    meaning the features not used verbatim) naming some of the part's features."""
    if not derivations:
        return [(f, [f]) for f in features]
    verbatim = {(d.get("expression") or "").strip() for d in derivations if d.get("name") != "*"}
    out = []
    for d in derivations:
        if d.get("name") == "*":
            out.extend((f, [f]) for f in features if f not in verbatim)
            continue
        ids = set(_IDENT.findall(d.get("expression") or ""))
        need = [f for f in features if f in ids]
        if need:
            out.append((d.get("name"), need))
    return out


def _part_columns(model):
    """GroupBy columns a join part exposes, after the GroupBy's derivations."""
    if not model.derivations:
        return list(model.value_columns)
    probe = {k: None for k in model.keys}
    probe.update({c: None for c in model.value_columns})
    probe["ds"] = "2000-01-01"
    return [c for c in model.derive(probe) if c not in model.keys and c not in ("ts", "ds")]


def _part_column_types(model):
    types = {}
    for p in model.parts:
        types[p.name] = part_output_type(p)
    for c in model.value_columns:
        types.setdefault(c, model.schema.get(c, "string"))
    for c in _part_columns(model):
        types.setdefault(c, "double")   # derived: typed loosely, only used by derivations
    return types


def _part_value(model, lrow, lkind, lkeys, cache, where, full):
    """{column: value} of one part for one left row, or None (§6 point-in-time table)."""
    key = tuple(lrow.get(k) for k in lkeys)
    if any(k is None for k in key):
        return None                            # a null key gives null features
    if lkind == "entities":
        day = lrow["ds"]                       # snapshot of P, accuracy ignored
        return _snapshot_value(model, day, key, cache, where, full)
    q = lrow.get("ts")
    temporal = model.accuracy == "TEMPORAL" and model.aggregations is not None
    if q is None:
        if temporal:
            raise OracleError("%s: part %s is TEMPORAL but a left row of %s has a null ts"
                              % (where, full, lrow["ds"]))
        return None
    if not isinstance(q, int):
        raise OracleError("%s: left ts %r is not a long" % (where, q))
    if not temporal:
        return _snapshot_value(model, ds_add(day_of(q), -1), key, cache, where, full)
    if model.is_entities:
        vals = model.temporal_entities(key, q)
    else:
        # the value for day X reads partitions >= X - 1d - maxWindow, per day (D29)
        vals = model.temporal_events(key, q, max_partition=lrow["ds"],
                                     min_partition=_scan_lo(model, day_of(q)))
    return _derive_part(model, key, vals, day_of(q))


def _snapshot_value(model, day, key, cache, where, full):
    if day not in cache:
        cache[day] = model.snapshot(day, _scan_lo(model, day))   # per-day lower bound (D29)
    vals = cache[day].get(key)
    if vals is None:
        return None
    if model.aggregations is None:
        if len(vals) > 1:
            raise OracleError("%s: part %s: right table %s has %d rows for key %r in ds %s (D10)"
                              % (where, full, model.sources[0].table_name, len(vals), key, day))
        vals = vals[0]
    return _derive_part(model, key, vals, day)


def _derive_part(model, key, vals, day):
    if not model.derivations:
        return vals
    row = dict(zip(model.keys, key))
    row.update(vals)
    row["ds"] = day
    return model.derive(row)


# --------------------------------------------------------------------------- output

def sort_key(v):
    """Total order over output values (None first) for deterministic row order."""
    if v is None:
        return (0,)
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, (int, float)):
        return (1, v) if v == v else (2,)
    if isinstance(v, str):
        return (3, v)
    return (4, canonical_json(v))


def sort_rows(rows, cols):
    return sorted(rows, key=lambda r: ([sort_key(r.get(c)) for c in cols],
                                       canonical_json(to_json_value(r))))


def to_json_value(v):
    """JSON form of a value: nested NaN/Inf become null (D3), bytes become base64."""
    if isinstance(v, float) and (v != v or math.isinf(v)):
        return None
    if isinstance(v, bytes):
        return base64.b64encode(v).decode("ascii")
    if isinstance(v, list):
        return [to_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: to_json_value(x) for k, x in v.items()}
    return v


# --------------------------------------------------------------------------- D19 tolerances

def approx_unique_ok(got, exact, lg_k=8):
    """APPROX_UNIQUE_COUNT: exact up to 2^lgK distinct values, else within 2.1*n/sqrt(2^lgK)."""
    if exact <= 2 ** lg_k:
        return got == exact
    return abs(got - exact) <= 2.1 * exact / math.sqrt(2 ** lg_k)


def approx_percentile_ok(got, inputs, p, k=128):
    """APPROX_PERCENTILE: exact while n <= k; else rank_lo(v)-eps <= p <= rank_hi(v)+eps."""
    xs = sorted(to_float32(float(x)) for x in inputs if x is not None and not _is_nan(x))
    n = len(xs)
    if n == 0:
        return got is None
    if n <= k:
        return got == percentile_of(xs, p)
    eps = 1.5 * 2.446 / k ** 0.9433
    lo = sum(1 for x in xs if x < got) / n
    hi = sum(1 for x in xs if x <= got) / n
    return lo - eps <= p <= hi + eps


def approx_histogram_ok(got, inputs, k=8):
    """APPROX_HISTOGRAM_K: exact up to k distinct; else <= k entries, real keys, and a
    majority item present within 3.5*n/M (M = next power of two >= k)."""
    counts = {}
    for x in inputs:
        if x is not None:
            key = _hist_key_str(x)
            counts[key] = counts.get(key, 0) + 1
    if len(counts) <= k:
        return got == counts
    if got is None or len(got) > k or any(key not in counts for key in got):
        return False
    n = sum(counts.values())
    m = 1
    while m < k:
        m *= 2
    for key, c in counts.items():
        if 2 * c > n and (key not in got or abs(got[key] - c) > 3.5 * n / m):
            return False
    return True
