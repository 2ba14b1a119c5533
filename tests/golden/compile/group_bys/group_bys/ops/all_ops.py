"""Every aggregation operation, with and without arguments, over HOURS, DAYS and no
window, with buckets, element-wise input, column tags and derivations."""
from ai.chronon.api.ttypes import EventSource, Source
from ai.chronon.group_by import (
    Accuracy,
    Aggregation,
    Derivation,
    GroupBy,
    Operation,
    TimeUnit,
    Window,
)
from ai.chronon.query import Query, select

source = Source(events=EventSource(
    table="raw.events",
    query=Query(
        selects=select("user_id", "amount", "item", "embedding", "category",
                       price="CAST(price_cents AS DOUBLE) / 100"),
        wheres=["amount IS NOT NULL"],
        start_partition="2023-01-01",
        time_column="event_ts",
    ),
))

v1 = GroupBy(
    sources=source,
    keys=["user_id"],
    aggregations=[
        Aggregation(input_column="amount", operation=Operation.MIN,
                    windows=[Window(6, TimeUnit.HOURS), Window(1, TimeUnit.DAYS)]),
        Aggregation(input_column="amount", operation=Operation.MAX),
        Aggregation(input_column="item", operation=Operation.FIRST, windows=[Window(7, TimeUnit.DAYS)]),
        Aggregation(input_column="item"),
        # session_id is not selected: GroupBy adds it to the selects.
        Aggregation(input_column="session_id", operation=Operation.UNIQUE_COUNT),
        Aggregation(input_column="item", operation=Operation.APPROX_UNIQUE_COUNT),
        Aggregation(input_column="item", operation=Operation.APPROX_UNIQUE_COUNT_LGK(10)),
        Aggregation(input_column="amount", operation=Operation.COUNT, windows=[Window(1, TimeUnit.DAYS)]),
        Aggregation(input_column="amount", operation=Operation.SUM,
                    windows=[Window(1, TimeUnit.HOURS), Window(1, TimeUnit.DAYS)],
                    buckets=["category"], tags={"unit": "usd"}),
        Aggregation(input_column="amount", operation=Operation.AVERAGE),
        Aggregation(input_column="embedding", operation=Operation.AVERAGE,
                    windows=[Window(7, TimeUnit.DAYS)], element_wise=True),
        Aggregation(input_column="price", operation=Operation.VARIANCE),
        Aggregation(input_column="price", operation=Operation.SKEW),
        Aggregation(input_column="price", operation=Operation.KURTOSIS),
        Aggregation(input_column="price", operation=Operation.APPROX_PERCENTILE([0.5, 0.9, 0.99])),
        Aggregation(input_column="price", operation=Operation.APPROX_PERCENTILE([0.25, 0.75], k=64)),
        Aggregation(input_column="item", operation=Operation.LAST_K(5), tags={"kind": "recent"}),
        Aggregation(input_column="item", operation=Operation.FIRST_K(3), windows=[Window(2, TimeUnit.DAYS)]),
        Aggregation(input_column="amount", operation=Operation.TOP_K(4)),
        Aggregation(input_column="amount", operation=Operation.BOTTOM_K(4)),
        Aggregation(input_column="category", operation=Operation.HISTOGRAM),
        Aggregation(input_column="category", operation=Operation.HISTOGRAM_K(20)),
        Aggregation(input_column="category", operation=Operation.APPROX_HISTOGRAM_K(16)),
        Aggregation(input_column="item", operation=Operation.BOUNDED_UNIQUE_COUNT_K(8)),
    ],
    online=True,
    production=True,
    accuracy=Accuracy.TEMPORAL,
    tags={"owner": "ops"},
    derivations=[
        Derivation(name="*", expression="*"),
        Derivation(name="amount_avg", expression="amount_average", description="Mean amount, all time"),
        Derivation(name="price_sd_half", expression="sqrt(price_variance) / 2"),
    ],
    description="Coverage of every operation",
)
