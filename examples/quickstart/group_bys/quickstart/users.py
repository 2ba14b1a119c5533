"""User attributes as features. data.users is a daily snapshot keyed by user_id already,
so there is nothing to aggregate: the selected columns are the features.
"""
from ai.chronon.api.ttypes import Source, EntitySource
from ai.chronon.query import Query, select
from ai.chronon.group_by import GroupBy

source = Source(
    entities=EntitySource(
        snapshotTable="data.users",
        query=Query(
            selects=select("user_id", "account_created_ds", "email_verified"),
        ),
    ))

v1 = GroupBy(
    sources=[source],
    keys=["user_id"],
    aggregations=None,
    online=True,
)
