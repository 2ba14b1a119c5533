from ai.chronon.api.ttypes import EventSource, Source
from ai.chronon.group_by import Aggregation, GroupBy, Operation, TimeUnit, Window
from ai.chronon.query import Query, select

clicks = Source(events=EventSource(
    table="growth_raw.clicks",
    query=Query(selects=select("user_id", "clicks"), time_column="ts"),
))

v1 = GroupBy(
    sources=[clicks],
    keys=["user_id"],
    aggregations=[Aggregation(input_column="clicks", operation=Operation.SUM,
                              windows=[Window(7, TimeUnit.DAYS)])],
    online=True,
)

v1_offline = GroupBy(
    sources=[clicks],
    keys=["user_id"],
    aggregations=[Aggregation(input_column="clicks", operation=Operation.COUNT)],
    backfill_start_date="2023-01-01",
)
