"""Messages and the daily cube on Dask: the same aggregation as the local engine, distributed.

A message's events may sit in different partitions (a dataset is partitioned by event day, and
opens arrive days after the delivery), so the messages table is built with the associative
steps of :mod:`deliverability_econ.messages`:

1. every partition of events is reduced to partial rows (:func:`~.messages.message_parts`),
   one per message key found in it: roughly one row per message instead of five events;
2. the partial rows are shuffled by ``message_id`` (a hash partitioning), so all the partial
   rows of a message meet in one partition (the key is ``(message_id, recipient)``; grouping on
   ``message_id`` alone keeps every key whole);
3. each partition is combined and finalized (:func:`~.messages.combine_message_parts`,
   :func:`~.messages.finalize_messages`): each message counts once, whatever the split.

The cube is additive: each partition of messages gives a partial cube
(:func:`~.cube.daily_cube`), and the partial cubes are summed by day and keys. Counts are exact;
``delivery_latency_s_sum`` is a float sum taken in another order than the local engine's, so it
may differ from it in the last bits.

Dispatch: :func:`deliverability_econ.messages` and :func:`deliverability_econ.daily_cube`
hand a Dask DataFrame to :func:`messages_dask` and :func:`daily_cube_dask`;
:func:`is_dask_dataframe` tells one apart without importing Dask. Nothing here imports Dask at
import time (it is the optional ``dask`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd


def is_dask_dataframe(frame: Any) -> bool:
    """Whether ``frame`` is a Dask DataFrame (without importing Dask when it is not loaded)."""
    return type(frame).__module__.startswith("dask.") and hasattr(frame, "map_partitions")


def messages_dask(events: Any, *, npartitions: int | None = None) -> Any:
    """One row per message from a Dask DataFrame of events (see :func:`~.messages.messages`).

    Parameters
    ----------
    events : dask.dataframe.DataFrame
        Canonical events, e.g. ``read_dataset(path, engine="dask")``, partitioned any way:
        one message's events may sit in several partitions.
    npartitions : int, optional
        Partitions of the result [partitions]; default those of ``events``.

    Returns
    -------
    dask.dataframe.DataFrame
        Lazily, the columns and dtypes of :data:`~.messages.MESSAGE_COLUMNS`, one row per
        message. Each partition is sorted by ``sent_at`` then key; across partitions rows are
        in hash order of ``message_id``, so ``result.compute().sort_values(["sent_at",
        "message_id", "recipient"], ignore_index=True)`` equals ``messages(events.compute())``.
    """
    from .io._dask import import_dask_dataframe
    from .messages import (
        _EVENT_INPUT_COLUMNS,
        MESSAGE_DTYPES,
        MESSAGE_PART_DTYPES,
        _empty,
        message_parts,
    )

    import_dask_dataframe()
    needed = list(_EVENT_INPUT_COLUMNS)
    missing = [name for name in needed if name not in events.columns]
    if missing:
        raise ValueError(
            "messages() needs canonical events (schema.EVENT_COLUMNS); missing columns: "
            + ", ".join(missing)
        )
    parts_meta = _empty(MESSAGE_PART_DTYPES)
    parts = events[needed].map_partitions(message_parts, meta=parts_meta)
    shuffled = parts.shuffle(on="message_id", npartitions=npartitions or events.npartitions)
    return shuffled.map_partitions(
        _finalize_partition, meta=_empty(MESSAGE_DTYPES)
    )


def _finalize_partition(parts: pd.DataFrame) -> pd.DataFrame:
    from .messages import combine_message_parts, finalize_messages

    return finalize_messages(combine_message_parts(parts))


def daily_cube_dask(
    messages: Any, by: Sequence[str] | str = ("mailbox_provider",)
) -> pd.DataFrame:
    """The daily cube of a Dask DataFrame of messages (see :func:`~.cube.daily_cube`).

    Parameters
    ----------
    messages : dask.dataframe.DataFrame
        The messages table, e.g. from :func:`messages_dask`, partitioned any way (each message
        in one partition).
    by : str or sequence of str
        Message columns to break the counts down by, as for :func:`~.cube.daily_cube`.

    Returns
    -------
    DataFrame
        The cube, computed (it is small at any volume: days × keys), equal to
        ``daily_cube(messages.compute(), by)``: counts exactly, ``delivery_latency_s_sum`` up to
        the rounding of a float sum taken in another order.
    """
    from .cube import _check_keys, daily_cube

    meta = messages._meta
    keys = _check_keys(meta, by)
    partial = messages.map_partitions(daily_cube, keys, meta=daily_cube(meta, keys))
    return _sum_cubes(partial.compute(), keys)


def _sum_cubes(partial: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Partial cubes (rows may repeat a day × keys) summed into one row per day × keys."""
    from .cube import CUBE_COUNT_COLUMNS

    partial = partial.reset_index(drop=True)
    if partial.empty:
        return partial
    cube = (
        partial.groupby(["date", *keys], sort=True, dropna=False, observed=True)[
            list(CUBE_COUNT_COLUMNS)
        ]
        .sum()
        .reset_index()
    )
    dtypes = {name: partial[name].dtype for name in ("date", *keys, *CUBE_COUNT_COLUMNS)}
    return cube.astype(dtypes)[["date", *keys, *CUBE_COUNT_COLUMNS]]


def messages_from_dataset(path: Any, *, filters: Any = None, client: Any = None) -> pd.DataFrame:
    """The messages table of an ingested dataset, computed on Dask; equal to
    ``messages(read_dataset(path, filters=filters))``.

    Parameters
    ----------
    path : path
        A dataset written by ``ingest``.
    filters : list of tuples, optional
        Row filters, as for ``read_dataset``; a day filter drops the events of that day from
        every message (opens of earlier sends included).
    client : distributed.Client, optional
        Where to compute; default Dask's current scheduler (the current client if any).

    Returns
    -------
    DataFrame
        The messages table, sorted as the local engine sorts it.
    """
    from .io._dask import import_dask_dataframe, read_dataset_dask

    import_dask_dataframe()
    table = messages_dask(
        read_dataset_dask(path, columns=None, filters=filters)
    )
    computed = client.compute(table).result() if client is not None else table.compute()
    return computed.sort_values(
        ["sent_at", "message_id", "recipient"], kind="stable", ignore_index=True
    )
