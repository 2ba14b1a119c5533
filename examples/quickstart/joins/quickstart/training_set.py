"""Training set: purchase, return and user features for every checkout, as of the checkout time.

The left side (data.checkouts) gives the keys and the timestamps at which the features are
computed point-in-time correctly.
"""
from ai.chronon.join import Join, JoinPart
from ai.chronon.api.ttypes import Source, EventSource
from ai.chronon.query import Query, select

from group_bys.quickstart.purchases import v1 as purchases_v1
from group_bys.quickstart.returns import v1 as returns_v1
from group_bys.quickstart.users import v1 as users

source = Source(
    events=EventSource(
        table="data.checkouts",
        query=Query(
            selects=select("user_id"),
            time_column="ts",
        ),
    ))

# Offline training set with all three GroupBys.
v1 = Join(
    left=source,
    right_parts=[JoinPart(group_by=group_by) for group_by in [purchases_v1, returns_v1, users]],
)

# Online variant with the two event-based GroupBys, fetchable as one feature vector.
v2 = Join(
    left=source,
    right_parts=[JoinPart(group_by=group_by) for group_by in [purchases_v1, returns_v1]],
    online=True,
)
