"""Messages -> the daily cube: counts per send day and keys, cohorted by send day.

The cube is what the models read: small at any volume (days × providers × IPs), additive, so
that weeks, months or coarser keys are sums of its rows. Every count is *cohorted by send day*:
a message sent on Monday and opened on Wednesday counts as opened on Monday, so each row's
rates (opened / delivered, delivered / messages, ...) are rates of one cohort of messages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._dask_engine import is_dask_dataframe
from .messages import ENGAGEMENT_FLAGS, OUTCOME_FLAGS

#: Count columns of the cube, in order, with their units.
#:
#: - ``messages`` [messages]: messages sent that day (rows of the messages table);
#: - ``delivered``, ``bounced_hard``, ``bounced_soft``, ``blocked``, ``dropped``, ``pending``
#:   [messages]: the exclusive outcomes; they sum to ``messages``;
#: - ``deferred`` [messages]: messages deferred at least once;
#: - ``deferred_attempts`` [deferrals]: deferral events, summed;
#: - ``opened_human``, ``opened_machine``, ``clicked``, ``clicked_machine``, ``complained``,
#:   ``unsubscribed`` [messages]: messages with at least one such event, at any later date;
#: - ``delivery_latency_s_sum`` [s] and ``delivery_latency_s_count`` [messages]: sum and number
#:   of measured delivery latencies, so that the mean of any group of rows is
#:   ``sum(delivery_latency_s_sum) / sum(delivery_latency_s_count)``.
CUBE_COUNT_COLUMNS: tuple[str, ...] = (
    "messages",
    *OUTCOME_FLAGS,
    "pending",
    "deferred",
    "deferred_attempts",
    *ENGAGEMENT_FLAGS,
    "delivery_latency_s_sum",
    "delivery_latency_s_count",
)

_REQUIRED_MESSAGE_COLUMNS: tuple[str, ...] = (
    "sent_at",
    *OUTCOME_FLAGS,
    "deferred_attempts",
    *ENGAGEMENT_FLAGS,
    "delivery_latency_s",
)


def daily_cube(
    messages: pd.DataFrame, by: Sequence[str] | str = ("mailbox_provider",)
) -> pd.DataFrame:
    """Count messages and their outcomes per send day and keys.

    Parameters
    ----------
    messages : DataFrame
        The messages table (:func:`deliverability_econ.messages`).
    by : str or sequence of str
        Message columns to break the counts down by, e.g. ``("mailbox_provider",)`` (default),
        ``("mailbox_provider", "sending_ip")``, ``("stream",)`` or ``()`` for one row per day.
        A missing key value (an unknown IP, no stream) is a group of its own, never dropped.

    Returns
    -------
    DataFrame
        One row per send day × key combination that has messages, sorted by ``date`` then
        keys, default index. Columns: ``date`` (the UTC calendar day of ``sent_at``, as a
        timezone-naive ``datetime64[ns]`` at midnight, so it merges with daily tables such as
        seed-test results), the ``by`` columns with their dtypes, then
        :data:`CUBE_COUNT_COLUMNS` (int64 counts; ``delivery_latency_s_sum`` float64 [s]).
        Counts are cohorted by send day: every flag counts on the day the message was sent,
        whenever the event happened.

    Raises
    ------
    ValueError
        If a ``by`` column is not in ``messages``, is repeated, or clashes with a cube column.

    Examples
    --------
    Delivery rate per provider and day, with its denominator in the name:

    >>> cube = daily_cube(messages(events))  # doctest: +SKIP
    >>> cube["delivered_per_message"] = cube["delivered"] / cube["messages"]  # doctest: +SKIP
    """
    if is_dask_dataframe(messages):  # partial cubes per partition, summed: see _dask_engine
        from ._dask_engine import daily_cube_dask

        return daily_cube_dask(messages, by)
    keys = _check_keys(messages, by)
    missing = [name for name in _REQUIRED_MESSAGE_COLUMNS if name not in messages.columns]
    if missing:
        raise ValueError(
            "daily_cube needs the messages table; missing columns: " + ", ".join(missing)
        )

    sent_at = messages["sent_at"]
    if not isinstance(sent_at.dtype, pd.DatetimeTZDtype):
        sent_at = pd.to_datetime(sent_at, utc=True)
    date = sent_at.dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D").astype("datetime64[ns]")

    def flag(name: str) -> np.ndarray:
        return messages[name].to_numpy(dtype=bool, na_value=False)

    outcome = np.zeros(len(messages), dtype=bool)
    for name in OUTCOME_FLAGS:
        outcome |= flag(name)
    attempts = messages["deferred_attempts"].to_numpy(dtype="int64", na_value=0)
    latency = messages["delivery_latency_s"].to_numpy(dtype="float64", na_value=np.nan)
    measured = ~np.isnan(latency)

    counts = {
        "messages": np.ones(len(messages), dtype="int64"),
        **{name: flag(name).astype("int64") for name in OUTCOME_FLAGS},
        "pending": (~outcome).astype("int64"),
        "deferred": (attempts > 0).astype("int64"),
        "deferred_attempts": attempts,
        **{name: flag(name).astype("int64") for name in ENGAGEMENT_FLAGS},
        "delivery_latency_s_sum": np.where(measured, latency, 0.0),
        "delivery_latency_s_count": measured.astype("int64"),
    }
    frame = pd.DataFrame(
        {
            "date": date.to_numpy(),
            # Series (not arrays) keep the key dtypes: categories, nullable strings.
            **{name: messages[name].reset_index(drop=True) for name in keys},
            **counts,
        }
    )

    if frame.empty:
        cube = frame
    else:
        cube = (
            frame.groupby(["date", *keys], sort=True, dropna=False, observed=True)[
                list(CUBE_COUNT_COLUMNS)
            ]
            .sum()
            .reset_index()
        )
    dtypes = {name: "int64" for name in CUBE_COUNT_COLUMNS}
    dtypes["delivery_latency_s_sum"] = "float64"
    dtypes["date"] = "datetime64[ns]"
    cube = cube.astype(dtypes)
    return cube[["date", *keys, *CUBE_COUNT_COLUMNS]]


def _check_keys(messages: pd.DataFrame, by: Sequence[str] | str) -> list[str]:
    keys = [by] if isinstance(by, str) else list(by)
    unknown = [name for name in keys if name not in messages.columns]
    if unknown:
        raise ValueError(
            f"by names columns that are not in the messages table: {unknown}; "
            f"available: {list(messages.columns)}"
        )
    if len(set(keys)) != len(keys):
        raise ValueError(f"by repeats a column: {keys}")
    clashes = [name for name in keys if name == "date" or name in CUBE_COUNT_COLUMNS]
    if clashes:
        raise ValueError(
            f"cannot break the cube down by {clashes}: they are cube columns, not keys"
        )
    return keys
