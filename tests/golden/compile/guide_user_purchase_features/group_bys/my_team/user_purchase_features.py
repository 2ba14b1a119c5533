# group_bys/my_team/user_purchase_features.py
from ai.chronon.api.ttypes import Source, EventSource
from ai.chronon.query import Query, select
from ai.chronon.group_by import GroupBy, Aggregation, Operation, Window, TimeUnit

# Define the source using sample data from MinIO
source = Source(
    events=EventSource(
        table="purchases",  # Temp view created from MinIO Parquet file
        query=Query(
            selects=select("user_id", "purchase_price", "item_category"),
            time_column="ts"  # Event timestamp column
        )
    )
)

# Define time windows for aggregations
window_sizes = [
    Window(length=1, timeUnit=TimeUnit.DAYS),    # 1 day
    Window(length=7, timeUnit=TimeUnit.DAYS),    # 7 days
    Window(length=30, timeUnit=TimeUnit.DAYS),   # 30 days
]

# Create the GroupBy configuration
v1 = GroupBy(
    sources=[source],
    keys=["user_id"],  # Primary key for grouping
    aggregations=[
        # Sum of purchase prices in different windows
        Aggregation(
            input_column="purchase_price",
            operation=Operation.SUM,
            windows=window_sizes
        ),
        # Count of purchases in different windows
        Aggregation(
            input_column="purchase_price",
            operation=Operation.COUNT,
            windows=window_sizes
        ),
        # Average purchase price in different windows
        Aggregation(
            input_column="purchase_price",
            operation=Operation.AVERAGE,
            windows=window_sizes
        ),
        # Last 10 purchase prices (no window = all time)
        Aggregation(
            input_column="purchase_price",
            operation=Operation.LAST_K(10),
        ),
    ],
    online=True,  # Enable online serving
)
