from ai.chronon.api.ttypes import EventSource, Source
from ai.chronon.group_by import Aggregation, GroupBy, Operation, TimeUnit, Window
from ai.chronon.query import Query, select

fraud_7d = GroupBy(
    sources=[Source(events=EventSource(
        table="growth_raw.chargebacks",
        query=Query(selects=select("user_id", "amount"), time_column="ts"),
    ))],
    keys=["user_id"],
    aggregations=[Aggregation(input_column="amount", operation=Operation.SUM,
                              windows=[Window(7, TimeUnit.DAYS)])],
)
