"""StagingQueries are thrift objects built directly (no DSL helper)."""
from ai.chronon.api.ttypes import MetaData, StagingQuery

query = """
SELECT
    user_id,
    SUM(amount) AS total_amount,
    ds
FROM raw.events
WHERE ds BETWEEN '{{ start_date }}' AND '{{ end_date }}'
  AND ds <= '{{ latest_date }}'
  AND ds <= '{{ max_date(table=raw.events) }}'
GROUP BY user_id, ds
"""

v1 = StagingQuery(
    query=query,
    startPartition="2023-01-01",
    setups=[
        "CREATE TEMPORARY FUNCTION clean_id AS 'com.example.CleanId'",
        "SET spark.sql.shuffle.partitions=10",
    ],
    metaData=MetaData(
        name="overwritten_by_compile",
        customJson='{"owner": "sq"}',
        dependencies=["raw.events/ds={{ ds }}"],
    ),
)

# A view: no date templates allowed, own namespace and table properties.
events_view = StagingQuery(
    query="SELECT user_id, amount, ts, ds FROM raw.events WHERE amount > 0",
    createView=True,
    metaData=MetaData(
        outputNamespace="views_ns",
        tableProperties={"format": "view"},
    ),
)
