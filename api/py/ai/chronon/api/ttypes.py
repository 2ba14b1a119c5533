"""Chronon's Thrift data model (api.thrift) as plain Python classes.

Each struct lists its fields as (thrift id, name, type) in id order; that order is the key
order of the compiled JSON.  Types are the strings "string", "bool", "i32", "double", an enum
class, a struct class, or a tuple ("list", T) / ("map", K, V).  Constructors accept the fields
positionally in id order and by keyword, like Thrift's generated Python classes, so configs
that build ttypes directly (``ttypes.Source(events=ttypes.EventSource(...))``) import unchanged.
Serialization lives in ai.chronon.repo.serializer.
"""


class _Enum:
    _VALUES_TO_NAMES = {}
    _NAMES_TO_VALUES = {}


def _enum(name, members):
    attrs = dict(members)
    attrs["_VALUES_TO_NAMES"] = {v: k for k, v in members}
    attrs["_NAMES_TO_VALUES"] = dict(members)
    return type(name, (_Enum,), attrs)


Operation = _enum("Operation", [
    ("MIN", 0), ("MAX", 1), ("FIRST", 2), ("LAST", 3), ("UNIQUE_COUNT", 4),
    ("APPROX_UNIQUE_COUNT", 5), ("COUNT", 6), ("SUM", 7), ("AVERAGE", 8), ("VARIANCE", 9),
    ("SKEW", 10), ("KURTOSIS", 11), ("APPROX_PERCENTILE", 12), ("LAST_K", 13), ("FIRST_K", 14),
    ("TOP_K", 15), ("BOTTOM_K", 16), ("HISTOGRAM", 17), ("APPROX_HISTOGRAM_K", 18),
    ("BOUNDED_UNIQUE_COUNT", 19),
])
TimeUnit = _enum("TimeUnit", [("HOURS", 0), ("DAYS", 1)])
Accuracy = _enum("Accuracy", [("TEMPORAL", 0), ("SNAPSHOT", 1)])
DataKind = _enum("DataKind", [
    ("BOOLEAN", 0), ("BYTE", 1), ("SHORT", 2), ("INT", 3), ("LONG", 4), ("FLOAT", 5),
    ("DOUBLE", 6), ("STRING", 7), ("BINARY", 8), ("DATE", 9), ("TIMESTAMP", 10), ("MAP", 11),
    ("LIST", 12), ("STRUCT", 13),
])


class _Struct:
    """Base of every Thrift struct: keyword/positional init, value equality, Thrift-style repr."""

    _FIELDS = ()  # ((id, name, type), ...) in id order; filled by _define below
    _DEFAULTS = {}

    def __init__(self, *args, **kwargs):
        names = [f[1] for f in self._FIELDS]
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names)} positional arguments "
                            f"({len(args)} given)")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument '{key}'")
            if key in values:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument '{key}'")
            values[key] = value
        for name in names:
            if name in values:
                setattr(self, name, values[name])
            else:
                default = self._DEFAULTS.get(name)
                # a fresh copy per instance: list defaults must not be shared between objects
                setattr(self, name, list(default) if isinstance(default, list) else default)

    def __repr__(self):
        parts = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({parts})"

    def __eq__(self, other):
        return isinstance(other, self.__class__) and self.__dict__ == other.__dict__

    def __ne__(self, other):
        return not (self == other)

    __hash__ = None

    def validate(self):
        return None


def _define(name, fields, defaults=None):
    cls = type(name, (_Struct,), {"_FIELDS": (), "_DEFAULTS": defaults or {}})
    cls._pending = fields
    return cls


# Structs are declared first and their field types resolved afterwards, because the model is
# recursive (Join -> JoinPart -> GroupBy -> Source -> JoinSource -> Join).
Query = _define("Query", None, {"setups": []})
StagingQuery = _define("StagingQuery", None)
EventSource = _define("EventSource", None)
EntitySource = _define("EntitySource", None)
ExternalSourceFactoryConfig = _define("ExternalSourceFactoryConfig", None)
ExternalSource = _define("ExternalSource", None)
JoinSource = _define("JoinSource", None)
Source = _define("Source", None)
Window = _define("Window", None)
Aggregation = _define("Aggregation", None)
AggregationPart = _define("AggregationPart", None)
MetaData = _define("MetaData", None)
GroupBy = _define("GroupBy", None)
JoinPart = _define("JoinPart", None)
ExternalPart = _define("ExternalPart", None)
Derivation = _define("Derivation", None)
Join = _define("Join", None)
BootstrapPart = _define("BootstrapPart", None)
LabelPart = _define("LabelPart", None)
GroupByServingInfo = _define("GroupByServingInfo", None)
DataField = _define("DataField", None)
TDataType = _define("TDataType", None)
InferenceSpec = _define("InferenceSpec", None)
Model = _define("Model", None)
ModelTransform = _define("ModelTransform", None)
ModelTransforms = _define("ModelTransforms", None)

_S, _B, _I32, _D = "string", "bool", "i32", "double"


def _l(t):
    return ("list", t)


def _m(k, v):
    return ("map", k, v)


_SPEC = {
    Query: [(1, "selects", _m(_S, _S)), (2, "wheres", _l(_S)), (3, "startPartition", _S),
            (4, "endPartition", _S), (5, "timeColumn", _S), (6, "setups", _l(_S)),
            (7, "mutationTimeColumn", _S), (8, "reversalColumn", _S), (9, "partitionColumn", _S)],
    StagingQuery: [(1, "metaData", MetaData), (2, "query", _S), (3, "startPartition", _S),
                   (4, "setups", _l(_S)), (5, "createView", _B)],
    EventSource: [(1, "table", _S), (2, "topic", _S), (3, "query", Query), (4, "isCumulative", _B)],
    EntitySource: [(1, "snapshotTable", _S), (2, "mutationTable", _S), (3, "mutationTopic", _S),
                   (4, "query", Query)],
    ExternalSourceFactoryConfig: [(1, "factoryName", _S), (2, "factoryParams", _m(_S, _S))],
    ExternalSource: [(1, "metadata", MetaData), (2, "keySchema", TDataType),
                     (3, "valueSchema", TDataType), (4, "factoryConfig", ExternalSourceFactoryConfig),
                     (5, "offlineGroupBy", GroupBy)],
    JoinSource: [(1, "join", Join), (2, "query", Query)],
    Source: [(1, "events", EventSource), (2, "entities", EntitySource), (3, "joinSource", JoinSource)],
    Window: [(1, "length", _I32), (2, "timeUnit", TimeUnit)],
    Aggregation: [(1, "inputColumn", _S), (2, "operation", Operation), (3, "argMap", _m(_S, _S)),
                  (4, "windows", _l(Window)), (5, "buckets", _l(_S)), (6, "elementWise", _B)],
    AggregationPart: [(1, "inputColumn", _S), (2, "operation", Operation), (3, "argMap", _m(_S, _S)),
                      (4, "window", Window), (5, "bucket", _S), (6, "elementWise", _B)],
    MetaData: [(1, "name", _S), (2, "online", _B), (3, "production", _B), (4, "customJson", _S),
               (5, "dependencies", _l(_S)), (6, "tableProperties", _m(_S, _S)), (7, "outputNamespace", _S),
               (8, "team", _S), (9, "modeToEnvMap", _m(_S, _m(_S, _S))), (10, "consistencyCheck", _B),
               (11, "samplePercent", _D), (12, "offlineSchedule", _S), (13, "consistencySamplePercent", _D),
               (14, "historicalBackfill", _B), (15, "deprecationDate", _S), (16, "description", _S)],
    GroupBy: [(1, "metaData", MetaData), (2, "sources", _l(Source)), (3, "keyColumns", _l(_S)),
              (4, "aggregations", _l(Aggregation)), (5, "accuracy", Accuracy), (6, "backfillStartDate", _S),
              (7, "derivations", _l(Derivation)), (8, "isIncremental", _B)],
    JoinPart: [(1, "groupBy", GroupBy), (2, "keyMapping", _m(_S, _S)), (4, "prefix", _S)],
    ExternalPart: [(1, "source", ExternalSource), (2, "keyMapping", _m(_S, _S)), (3, "prefix", _S)],
    Derivation: [(1, "name", _S), (2, "expression", _S), (3, "metaData", MetaData)],
    Join: [(1, "metaData", MetaData), (2, "left", Source), (3, "joinParts", _l(JoinPart)),
           (4, "skewKeys", _m(_S, _l(_S))), (5, "onlineExternalParts", _l(ExternalPart)),
           (6, "labelPart", LabelPart), (7, "bootstrapParts", _l(BootstrapPart)), (8, "rowIds", _l(_S)),
           (9, "derivations", _l(Derivation)), (10, "modelTransforms", ModelTransforms)],
    BootstrapPart: [(1, "metaData", MetaData), (2, "table", _S), (3, "query", Query), (4, "keyColumns", _l(_S))],
    LabelPart: [(1, "labels", _l(JoinPart)), (2, "leftStartOffset", _I32), (3, "leftEndOffset", _I32),
                (4, "metaData", MetaData)],
    GroupByServingInfo: [(1, "groupBy", GroupBy), (2, "inputAvroSchema", _S), (3, "selectedAvroSchema", _S),
                         (4, "keyAvroSchema", _S), (5, "batchEndDate", _S), (6, "dateFormat", _S)],
    DataField: [(1, "name", _S), (2, "dataType", TDataType)],
    TDataType: [(1, "kind", DataKind), (2, "params", _l(DataField)), (3, "name", _S)],
    InferenceSpec: [(1, "modelBackend", _S), (2, "modelBackendParams", _m(_S, _S))],
    Model: [(1, "metaData", MetaData), (2, "inferenceSpec", InferenceSpec), (3, "inputSchema", TDataType),
            (4, "outputSchema", TDataType)],
    ModelTransform: [(1, "model", Model), (2, "inputMappings", _m(_S, _S)), (3, "outputMappings", _m(_S, _S)),
                     (4, "prefix", _S)],
    ModelTransforms: [(1, "transforms", _l(ModelTransform)), (2, "passthroughFields", _l(_S))],
}

for _cls, _fields in _SPEC.items():
    _cls._FIELDS = tuple(sorted(_fields))
    del _cls._pending
    _cls.__module__ = __name__

STRUCTS = tuple(_SPEC)
__all__ = ["Operation", "TimeUnit", "Accuracy", "DataKind"] + [c.__name__ for c in STRUCTS]
for _e in (Operation, TimeUnit, Accuracy, DataKind):
    _e.__module__ = __name__

del _cls, _fields, _e
