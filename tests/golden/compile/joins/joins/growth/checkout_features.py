"""Join coverage: key mapping, prefixes, part tags, derivations with `*`, bootstrap parts
(explicit, templated, from log), a label part, skew keys, external and contextual parts."""
from ai.chronon.api.ttypes import EntitySource, EventSource, Source
from ai.chronon.join import (
    BootstrapPart,
    ContextualSource,
    DataType,
    Derivation,
    ExternalPart,
    ExternalSource,
    Join,
    JoinPart,
    LabelPart,
)
from ai.chronon.query import Query, select

from group_bys.growth import labels, user_stats
from group_bys.risk import merchant

checkouts = Source(events=EventSource(
    table="growth_raw.checkouts",
    query=Query(
        selects=select("user_id", "merchant", "order_id"),
        start_partition="2023-03-01",
        time_column="ts",
    ),
))

v1 = Join(
    left=checkouts,
    right_parts=[
        JoinPart(group_by=user_stats.v1, prefix="u", tags={"tier": "gold"}),
        JoinPart(group_by=merchant.v1, key_mapping={"merchant": "merchant_id"}),
        JoinPart(group_by=user_stats.v1_offline, prefix="offline"),
    ],
    row_ids=["order_id"],
    bootstrap_parts=[
        BootstrapPart(
            table="{{ db }}.checkout_bootstrap",
            key_columns=["order_id"],
            query=Query(
                selects=select("order_id", "u_growth_user_stats_v1_clicks_sum_7d"),
                start_partition="2023-03-01",
                end_partition="2023-03-31",
            ),
        ),
    ],
    derivations=[
        Derivation(name="*", expression="*"),
        Derivation(name="merchant_risk", expression="risk_merchant_v1_risk_score",
                   description="Risk score of the merchant"),
        Derivation(name="clicks_x2", expression="u_growth_user_stats_v1_clicks_sum_7d * 2"),
    ],
    label_part=LabelPart(
        labels=[JoinPart(group_by=labels.fraud_7d)],
        left_start_offset=7,
        left_end_offset=7,
        label_offline_schedule="@weekly",
    ),
    skew_keys={"user_id": ["0", "-1"]},
    additional_args=["--step-days=7"],
    tags={"team": "growth"},
    priority="high",
)

v2 = Join(
    left=Source(entities=EntitySource(
        snapshotTable="growth_raw.users",
        query=Query(selects=select("user_id", "merchant")),
    )),
    right_parts=[
        JoinPart(group_by=user_stats.v1),
        JoinPart(group_by=merchant.v1, key_mapping={"merchant": "merchant_id"}),
    ],
    online_external_parts=[
        ExternalPart(
            ExternalSource(
                name="fraud_service",
                team="risk",
                key_fields=[("user_id", DataType.STRING)],
                value_fields=[
                    ("score", DataType.DOUBLE),
                    ("reasons", DataType.LIST(DataType.STRING)),
                    ("counts", DataType.MAP(DataType.STRING, DataType.LONG)),
                ],
                custom_json='{"timeout_ms": 50}',
                factory_name="http",
                factory_params={"url": "http://fraud.local/score"},
            ),
            key_mapping={"user_id": "user_id"},
            prefix="svc",
        ),
        ExternalPart(ContextualSource(fields=[("request_country", DataType.STRING), ("amount", DataType.INT)])),
    ],
    online=True,
    production=True,
    check_consistency=True,
    sample_percent=10.0,
    bootstrap_from_log=True,
)
