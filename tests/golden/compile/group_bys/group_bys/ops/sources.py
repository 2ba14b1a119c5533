"""Source kinds and GroupBy metadata: entity snapshots with mutations, partition column,
cumulative events, explicit dependencies, lag, env and the other metaData fields."""
from ai.chronon.api.ttypes import EntitySource, EventSource, Source
from ai.chronon.group_by import (
    Accuracy,
    Aggregation,
    GroupBy,
    Operation,
    TimeUnit,
    Window,
)
from ai.chronon.query import Query, select

accounts_with_mutations = Source(entities=EntitySource(
    snapshotTable="raw.accounts",
    mutationTable="raw.account_mutations/hr=00:00",
    mutationTopic="account_mutations",
    query=Query(
        selects=select("account_id", "balance"),
        start_partition="2023-02-01",
        time_column="updated_at",
        mutation_time_column="mutated_at",
        reversal_column="is_reversal",
    ),
))

with_mutations = GroupBy(
    sources=[accounts_with_mutations],
    keys=["account_id"],
    aggregations=[
        Aggregation(input_column="balance", operation=Operation.LAST),
        Aggregation(input_column="balance", operation=Operation.SUM, windows=[Window(3, TimeUnit.DAYS)]),
    ],
    accuracy=Accuracy.TEMPORAL,
    online=True,
    lag=1,
)

# A bare EntitySource (not wrapped in Source) is accepted and wrapped.
snapshot_attrs = GroupBy(
    sources=EntitySource(
        snapshotTable="raw.accounts",
        query=Query(
            selects=select("account_id", "country", tier="UPPER(tier)"),
            partition_column="day",
        ),
    ),
    keys=["account_id"],
    aggregations=None,
    online=True,
    env={"backfill": {"EXECUTOR_MEMORY": "4G"}},
    table_properties={"retention_days": "30"},
    output_namespace="attrs_ns",
    offline_schedule="@weekly",
    deprecation_date="2024-12-31",
)

batch_events = GroupBy(
    sources=[Source(events=EventSource(
        table="raw.events",
        isCumulative=True,
        query=Query(selects=select("user_id", "amount"), time_column="event_ts"),
    ))],
    keys=["user_id"],
    aggregations=[
        Aggregation(input_column="amount", operation=Operation.SUM,
                    windows=[Window(7, TimeUnit.DAYS), Window(30, TimeUnit.DAYS)]),
    ],
    accuracy=Accuracy.SNAPSHOT,
    production=False,
    backfill_start_date="2023-01-01",
    historical_backfill=False,
    dependencies=["raw.events/ds={{ ds }}/hr=23"],
    is_incremental=True,
    owner_email="ops@example.com",
)

# Neither online nor backfilled: compile skips it (no file is written).
skipped = GroupBy(
    sources=[Source(events=EventSource(
        table="raw.events",
        query=Query(selects=select("user_id", "amount"), time_column="event_ts"),
    ))],
    keys=["user_id"],
    aggregations=[Aggregation(input_column="amount", operation=Operation.SUM)],
)
