"""The messages table of an ingested Parquet dataset, aggregated by DuckDB.

:func:`messages_from_dataset` gives exactly ``messages(read_dataset(out_dir))`` (same rows,
order, values and dtypes; see :func:`deliverability_econ.messages.messages` for the rules)
without building the events DataFrame: pyarrow reads the thirteen columns the table needs,
DuckDB groups them by ``(message_id, recipient)`` on every core, and only the result (one row
per message) becomes pandas. On 2,000,000 SendGrid events this is several times cheaper than
``read_dataset`` followed by :func:`~deliverability_econ.messages` (see benchmarks/README.md).

How the rules map to SQL:

- times are int64 nanoseconds throughout (no loss of sub-microsecond precision);
- "the earliest event that carries a value, ties by the smallest value" is
  ``min({'t': time, 'v': value})`` over the events where the value is present, with
  categoricals compared by their category position (as pandas orders categoricals) and strings
  by their UTF-8 bytes (the code point order pandas sorts by);
- the final order is ``sent_at`` (missing last), then ``message_id`` and ``recipient``
  (missing last), as the stable sort of :func:`~deliverability_econ.messages.messages` gives.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .messages import (
    ENGAGEMENT_FLAGS,
    MESSAGE_COLUMNS,
    MESSAGE_DTYPES,
    MESSAGE_KEY_COLUMNS,
    OUTCOME_FLAGS,
    messages,
)
from .schema import EVENT_DTYPES

#: The event columns the messages table is built from.
_INPUT_COLUMNS: tuple[str, ...] = (
    "timestamp", "event", "message_id", "recipient", "bounce_class", "is_machine",
    *MESSAGE_KEY_COLUMNS,
)

_NAT = np.iinfo(np.int64).min


def _is_categorical(name: str) -> bool:
    return isinstance(EVENT_DTYPES[name], pd.CategoricalDtype)


def _ranked(column: pa.ChunkedArray, name: str) -> tuple[pa.Array, pa.Array]:
    """Integer ranks of a key column in the order ``messages`` compares its values, and the
    values by rank: category position for a categorical, UTF-8 byte order (code point order)
    for a string column. Missing (or outside the categories) is null."""
    encoded = column.combine_chunks().dictionary_encode()
    dictionary = encoded.dictionary
    if _is_categorical(name):
        values = pa.array([str(c) for c in EVENT_DTYPES[name].categories], type=pa.string())
        rank_of_entry = pc.index_in(dictionary, value_set=values)
    else:
        order = pc.array_sort_indices(dictionary)
        values = dictionary.take(order)
        rank_of_entry = pa.array(np.argsort(order.to_numpy()), type=pa.int64())
    return rank_of_entry.cast(pa.int64()).take(encoded.indices), values


#: ``(time + 2**63) * 2**32 + rank``: one 128-bit integer whose minimum is the earliest time and,
#: among equal times, the smallest rank; ranks stay below 2**32.
_SHIFT = 4_294_967_296
_OFFSET = 9_223_372_036_854_775_808


def _build_sql(ranked_keys: bool = True) -> str:
    """The aggregation over a relation ``events`` of ``message_id``, ``recipient``, ``t`` [ns],
    ``event`` and ``bounce_class`` (names), ``is_machine`` and the key columns: integer ranks when
    ``ranked_keys``, else values that DuckDB orders as ``messages`` does (strings, which compare
    by UTF-8 bytes, and category positions)."""
    if ranked_keys:
        keys = ",\n    ".join(
            f"(min((t::HUGEINT + {_OFFSET}) * {_SHIFT} + {name}) FILTER (WHERE {name} IS NOT NULL "
            f"AND t IS NOT NULL) % {_SHIFT})::BIGINT AS {name}"
            for name in MESSAGE_KEY_COLUMNS
        )
    else:
        keys = ",\n    ".join(
            f"struct_extract(min({{'t': t, 'v': {name}}}) FILTER (WHERE {name} IS NOT NULL "
            f"AND t IS NOT NULL), 'v') AS {name}"
            for name in MESSAGE_KEY_COLUMNS
        )
    bounce = ("CASE WHEN event = 'bounced' THEN CASE WHEN bounce_class IN ('hard', 'soft', 'block') "
              "THEN bounce_class ELSE 'undetermined' END END")
    return f"""
WITH ev AS (
  SELECT message_id, recipient, t, event, {bounce} AS bounce_kind,
         coalesce(is_machine, FALSE) AS machine, {", ".join(MESSAGE_KEY_COLUMNS)}
  FROM events
),
parts AS (
  SELECT message_id, recipient,
    min(t) AS first_event_at,
    min(t) FILTER (WHERE event = 'processed') AS processed_at,
    min(t) FILTER (WHERE event = 'delivered') AS delivered_at,
    min(t) FILTER (WHERE event = 'opened' AND NOT machine) AS first_open_human_at,
    {keys},
    coalesce(bool_or(bounce_kind = 'hard'), FALSE) AS saw_bounce_hard,
    coalesce(bool_or(bounce_kind = 'block'), FALSE) AS saw_block,
    coalesce(bool_or(bounce_kind IN ('soft', 'undetermined')), FALSE) AS saw_bounce_soft,
    coalesce(bool_or(event = 'dropped'), FALSE) AS saw_dropped,
    coalesce(bool_or(event = 'delivered'), FALSE) AS saw_delivered,
    coalesce(bool_or(event = 'opened' AND NOT machine), FALSE) AS opened_human,
    coalesce(bool_or(event = 'opened' AND machine), FALSE) AS opened_machine,
    coalesce(bool_or(event = 'clicked' AND NOT machine), FALSE) AS clicked,
    coalesce(bool_or(event = 'clicked' AND machine), FALSE) AS clicked_machine,
    coalesce(bool_or(event = 'complained'), FALSE) AS complained,
    coalesce(bool_or(event = 'unsubscribed'), FALSE) AS unsubscribed,
    count(*) FILTER (WHERE event = 'deferred') AS deferred_attempts,
    count(*) AS event_count
  FROM ev
  GROUP BY message_id, recipient
)
SELECT *,
  coalesce(processed_at, first_event_at) AS sent_at,
  CASE WHEN saw_bounce_hard THEN 'bounced_hard' WHEN saw_block THEN 'blocked'
       WHEN saw_bounce_soft THEN 'bounced_soft' WHEN saw_dropped THEN 'dropped'
       WHEN saw_delivered THEN 'delivered' ELSE 'pending' END AS final_status,
  (delivered_at - processed_at) / 1e9 AS delivery_latency_s
FROM parts
ORDER BY sent_at ASC NULLS LAST, message_id ASC NULLS LAST, recipient ASC NULLS LAST
"""


def _times(column: pa.ChunkedArray) -> pd.Series:
    values = column.combine_chunks().fill_null(_NAT).to_numpy(zero_copy_only=False)
    return pd.Series(pd.DatetimeIndex(values.astype("int64").view("datetime64[ns]"), tz="UTC"))


def _to_frame(table: pa.Table, decode: dict[str, pa.Array]) -> pd.DataFrame:
    out: dict[str, Any] = {}
    status_dtype = MESSAGE_DTYPES["final_status"]
    status_column = table["final_status"].combine_chunks()
    if pa.types.is_integer(status_column.type):  # category positions
        status_codes = status_column.to_numpy(zero_copy_only=False).astype(np.int8)
    else:
        status_codes = pd.Categorical(status_column.to_numpy(zero_copy_only=False),
                                      dtype=status_dtype).codes
    categories = list(status_dtype.categories)
    for name in MESSAGE_COLUMNS:
        dtype = MESSAGE_DTYPES[name]
        if name in OUTCOME_FLAGS:  # the one-hot of final_status
            out[name] = status_codes == categories.index(name)
            continue
        column = table[name]
        if name in ("sent_at", "first_open_human_at"):
            out[name] = _times(column)
        elif name in decode and isinstance(dtype, pd.CategoricalDtype):
            codes = column.combine_chunks().fill_null(-1).to_numpy(zero_copy_only=False)
            out[name] = pd.Categorical.from_codes(codes.astype(np.int16), dtype=dtype)
        elif name in decode:
            out[name] = pd.array(decode[name].take(column.combine_chunks()), dtype=dtype)
        elif name == "final_status":
            out[name] = pd.Categorical.from_codes(status_codes, dtype=dtype)
        elif name in ENGAGEMENT_FLAGS:
            out[name] = column.to_numpy().astype(bool)
        elif name in ("deferred_attempts", "event_count"):
            out[name] = column.to_numpy().astype("int64")
        elif name == "delivery_latency_s":
            out[name] = column.combine_chunks().fill_null(np.nan).to_numpy(
                zero_copy_only=False).astype("float64")
        else:
            out[name] = pd.array(column.combine_chunks(), dtype=dtype)
    return pd.DataFrame(out)


def messages_from_dataset(out_dir: str | os.PathLike, filters: Any = None) -> pd.DataFrame:
    """The messages table of a dataset written by :func:`deliverability_econ.io.ingest`.

    Parameters
    ----------
    out_dir : path
        The dataset directory.
    filters : list of tuples or pyarrow expression, optional
        Row filters on the events, as in :func:`deliverability_econ.io.read_dataset` (e.g.
        ``[("date", ">=", "2024-06-01")]``); a message whose events are cut by the filter is
        built from the events that pass it, as ``messages(read_dataset(out_dir, filters=...))``.

    Returns
    -------
    DataFrame
        Identical to ``messages(read_dataset(out_dir, filters=filters))``: columns
        :data:`~deliverability_econ.messages.MESSAGE_COLUMNS` with their dtypes, sorted by
        ``sent_at`` then key.
    """
    import duckdb

    from .io.ingest import _PARTITIONING, PARTITION_COLUMN, read_dataset

    directory = Path(out_dir)
    if not any(directory.glob(f"{PARTITION_COLUMN}=*/*.parquet")):
        return messages(read_dataset(directory))
    table = pq.read_table(directory, columns=list(_INPUT_COLUMNS), filters=filters,
                          partitioning=_PARTITIONING)
    if table.num_rows == 0:
        return messages(read_dataset(directory, filters=filters))
    # Nanoseconds as int64 (DuckDB's TIMESTAMPTZ holds microseconds); key columns as ranks.
    decode: dict[str, pa.Array] = {}
    columns = {name: table[name] for name in ("message_id", "recipient", "event", "bounce_class",
                                              "is_machine")}
    columns["t"] = pc.cast(table["timestamp"], pa.int64())
    for name in MESSAGE_KEY_COLUMNS:
        columns[name], decode[name] = _ranked(table[name], name)
    events = pa.table(columns)
    connection = duckdb.connect()
    try:
        connection.sql("SET enable_progress_bar = false")
        connection.register("events", events)
        result = connection.sql(_build_sql()).to_arrow_table()
    finally:
        connection.close()
    return _to_frame(result, decode)
