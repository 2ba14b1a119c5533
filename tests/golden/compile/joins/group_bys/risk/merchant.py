from ai.chronon.api.ttypes import EntitySource, Source
from ai.chronon.group_by import GroupBy
from ai.chronon.query import Query, select

v1 = GroupBy(
    sources=[Source(entities=EntitySource(
        snapshotTable="risk_raw.merchants",
        query=Query(selects=select("merchant_id", "risk_score")),
    ))],
    keys=["merchant_id"],
    aggregations=None,
    online=True,
)
