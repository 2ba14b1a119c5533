"""Purchase features per user: how much and how often a user bought recently.

Reads data.purchases (one row per purchase event; ts is the event time in epoch ms).
"""
from ai.chronon.api.ttypes import Source, EventSource
from ai.chronon.query import Query, select
from ai.chronon.group_by import GroupBy, Aggregation, Operation, Window, TimeUnit

source = Source(
    events=EventSource(
        table="data.purchases",  # batch log table, one ds partition per day
        topic=None,  # batch only; see returns.py for a streaming source
        query=Query(
            selects=select("user_id", "purchase_price"),
            time_column="ts",
        ),
    ))

window_sizes = [Window(length=days, timeUnit=TimeUnit.DAYS) for days in [3, 14, 30]]

v1 = GroupBy(
    sources=[source],
    keys=["user_id"],
    online=True,
    aggregations=[
        Aggregation(input_column="purchase_price", operation=Operation.SUM, windows=window_sizes),
        Aggregation(input_column="purchase_price", operation=Operation.COUNT, windows=window_sizes),
        Aggregation(input_column="purchase_price", operation=Operation.AVERAGE, windows=window_sizes),
        Aggregation(input_column="purchase_price", operation=Operation.LAST_K(10)),
    ],
)
