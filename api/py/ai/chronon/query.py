"""Query and select(): how a source is scanned (row expressions, filters, partitions, time)."""

from typing import Dict, List, Optional

import ai.chronon.api.ttypes as api


def Query(
    selects: Optional[Dict[str, str]] = None,
    wheres: Optional[List[str]] = None,
    start_partition: Optional[str] = None,
    end_partition: Optional[str] = None,
    time_column: Optional[str] = None,
    setups: Optional[List[str]] = None,
    mutation_time_column: Optional[str] = None,
    reversal_column: Optional[str] = None,
    partition_column: Optional[str] = None,
) -> api.Query:
    """A scan of a source: `selects` maps output column -> Spark SQL expression, `wheres` are
    ANDed filters, partitions bound the valid data, `time_column` yields epoch milliseconds.
    Engine defaults (not written): partition column `ds`, mutation time `mutation_ts`,
    reversal `is_before`."""
    return api.Query(
        selects,
        wheres,
        start_partition,
        end_partition,
        time_column,
        setups or [],
        mutation_time_column,
        reversal_column,
        partition_column,
    )


def select(*args, **kwargs):
    """select("a", "b", c="expr") -> {"a": "a", "b": "b", "c": "expr"}."""
    out = {x: x for x in args}
    out.update(kwargs)
    return out
