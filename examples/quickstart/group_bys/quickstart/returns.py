"""Return features per user, with a streaming topic so the values can be kept fresh online.

Reads data.returns (one row per refund event; ts is the event time in epoch ms).
"""
from ai.chronon.api.ttypes import Source, EventSource
from ai.chronon.query import Query, select
from ai.chronon.group_by import GroupBy, Aggregation, Operation, Window, TimeUnit

source = Source(
    events=EventSource(
        table="data.returns",
        topic="events.returns/fields=ts,return_id,user_id,product_id,refund_amt/host=kafka/port=9092",
        query=Query(
            selects=select("user_id", "refund_amt"),
            time_column="ts",
        ),
    ))

window_sizes = [Window(length=days, timeUnit=TimeUnit.DAYS) for days in [3, 14, 30]]

v1 = GroupBy(
    sources=[source],
    keys=["user_id"],
    online=True,
    aggregations=[
        Aggregation(input_column="refund_amt", operation=Operation.SUM, windows=window_sizes),
        Aggregation(input_column="refund_amt", operation=Operation.COUNT, windows=window_sizes),
        Aggregation(input_column="refund_amt", operation=Operation.AVERAGE, windows=window_sizes),
        Aggregation(input_column="refund_amt", operation=Operation.LAST_K(2)),
    ],
)
