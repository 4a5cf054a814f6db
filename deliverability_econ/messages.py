"""Events -> messages: one row per message and recipient, with its outcome and engagement.

A **message** here is one copy of an email addressed to one recipient, keyed by
``(message_id, recipient)``. The pair, not ``message_id`` alone, is the key because several
ESPs give one id to a message sent to several recipients: Amazon SES ``mail.messageId`` covers
every address in ``mail.destination``; a Postfix queue id covers every ``to=`` of the queued
message; SendGrid's ``sg_message_id`` (cut at ``.filter`` by the reader) is shared by the
recipients of one API request. Each recipient's copy is delivered, bounced, opened and
complained about on its own, so each is its own row.

The table is built in two associative steps so that a streaming or Dask engine can aggregate
chunks in which one message's events sit in different files:

1. :func:`message_parts` reduces a chunk of events to one *partial* row per message (minima of
   times, counts, "seen" flags, and each key with the time it was first seen);
2. :func:`combine_message_parts` merges any number of partial tables (it is associative and
   commutative, and idempotent on a single combined table);
3. :func:`finalize_messages` turns combined partials into the messages table.

``messages(events) == finalize_messages(combine_message_parts([message_parts(c) for c in chunks]))``
for any split of ``events`` into ``chunks``, in any order.

Rules (all documented again in :func:`messages`):

- ``sent_at`` is the first ``processed`` event, else the message's earliest event (a dropped
  message, or an export that starts after the message was processed).
- The keys (``recipient_domain``, ``mailbox_provider``, ``sending_ip``, ``ip_pool``,
  ``stream``, ``campaign``, ``esp``) take the value of the earliest event that carries one,
  because ESPs spread them over events (SendGrid puts the pool on ``processed`` only and the
  sending IP on delivery events only). Events at the same instant with different values are
  resolved by the smallest value (string order; category order for categoricals), so the
  result never depends on the order or the chunking of the events.
- The outcome is one of ``delivered``, ``bounced_hard``, ``blocked``, ``bounced_soft``,
  ``dropped`` or ``pending`` (``final_status``); the five outcome flags are exclusive. A failure
  beats a delivery: a bounce that arrives after a ``delivered`` event (an asynchronous DSN sent
  after the receiving MTA said 250) counts as bounced. Among failures the receiver's verdict
  on the address beats its verdict on the sender, which beats a temporary failure, which beats
  the ESP's own refusal: ``bounced_hard`` > ``blocked`` > ``bounced_soft`` > ``dropped`` >
  ``delivered`` > ``pending``.
- ``bounced_soft`` holds the ``soft`` and ``undetermined`` bounce classes (and a bounce whose
  class is missing): bounces the ESP gave up on without a permanent verdict.
- ``pending`` means no terminal event was seen (processed or deferred only, or engagement
  events without their delivery). Engagement does not imply a delivery: the table reports the
  events it was given.
- Machine opens (Apple Mail Privacy Protection, proxies) are counted in ``opened_machine`` and
  never in ``opened_human``; a click flagged ``is_machine`` (a link scanner) is counted in
  ``clicked_machine`` and not in ``clicked``. A missing ``is_machine`` counts as human.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ._dask_engine import is_dask_dataframe
from .schema import EVENT_DTYPES

#: The key of a message: ``message_id`` alone is shared by the recipients of one SES send, one
#: Postfix queue entry or one SendGrid request.
MESSAGE_KEY: tuple[str, str] = ("message_id", "recipient")

#: Columns describing where and how a message was sent, taken from the earliest event that
#: carries a value (see the module docstring).
MESSAGE_KEY_COLUMNS: tuple[str, ...] = (
    "recipient_domain",
    "mailbox_provider",
    "sending_ip",
    "ip_pool",
    "stream",
    "campaign",
    "esp",
)

#: ``final_status`` values, in the order of the outcome flags.
FINAL_STATUSES: tuple[str, ...] = (
    "delivered",
    "bounced_hard",
    "bounced_soft",
    "blocked",
    "dropped",
    "pending",
)

#: Terminal outcomes by precedence: a message's ``final_status`` is the first of these it has an
#: event for (``pending`` when none).
OUTCOME_PRECEDENCE: tuple[str, ...] = (
    "bounced_hard",
    "blocked",
    "bounced_soft",
    "dropped",
    "delivered",
)

#: The exclusive outcome flags of a message (``final_status`` one-hot, without ``pending``).
OUTCOME_FLAGS: tuple[str, ...] = ("delivered", "bounced_hard", "bounced_soft", "blocked", "dropped")

#: Engagement flags: any event of the kind, machine and human kept apart.
ENGAGEMENT_FLAGS: tuple[str, ...] = (
    "opened_human",
    "opened_machine",
    "clicked",
    "clicked_machine",
    "complained",
    "unsubscribed",
)

_UTC_NS = pd.DatetimeTZDtype(unit="ns", tz="UTC")

#: The messages table: columns, in order, with their dtypes.
MESSAGE_DTYPES: dict[str, object] = {
    "message_id": EVENT_DTYPES["message_id"],
    "recipient": EVENT_DTYPES["recipient"],
    "sent_at": _UTC_NS,
    **{name: EVENT_DTYPES[name] for name in MESSAGE_KEY_COLUMNS},
    **{name: np.dtype(bool) for name in OUTCOME_FLAGS},
    "deferred_attempts": np.dtype("int64"),
    **{name: np.dtype(bool) for name in ENGAGEMENT_FLAGS},
    "delivery_latency_s": np.dtype("float64"),
    "first_open_human_at": _UTC_NS,
    "final_status": pd.CategoricalDtype(list(FINAL_STATUSES)),
    "event_count": np.dtype("int64"),
}

MESSAGE_COLUMNS: tuple[str, ...] = tuple(MESSAGE_DTYPES)

# Partial aggregates --------------------------------------------------------------------------

#: Earliest time of an event kind, per message; NaT when the message has none in the part.
_PART_TIMES: tuple[str, ...] = (
    "first_event_at",
    "processed_at",
    "delivered_at",
    "first_open_human_at",
)

#: "Seen at least once" evidence; the exclusive outcome is only decided by finalize.
_PART_SEEN: tuple[str, ...] = (
    "saw_delivered",
    "saw_bounce_hard",
    "saw_bounce_soft",
    "saw_block",
    "saw_dropped",
    *ENGAGEMENT_FLAGS,
)

_PART_COUNTS: tuple[str, ...] = ("event_count", "deferred_attempts")

#: The partial table of :func:`message_parts`: one row per message and part. For each key
#: column ``k`` it holds ``k`` and ``k_at``, the time of the earliest event carrying ``k``.
MESSAGE_PART_DTYPES: dict[str, object] = {
    "message_id": EVENT_DTYPES["message_id"],
    "recipient": EVENT_DTYPES["recipient"],
    **{name: _UTC_NS for name in _PART_TIMES},
    **{
        column: dtype
        for name in MESSAGE_KEY_COLUMNS
        for column, dtype in ((name, EVENT_DTYPES[name]), (f"{name}_at", _UTC_NS))
    },
    **{name: np.dtype(bool) for name in _PART_SEEN},
    **{name: np.dtype("int64") for name in _PART_COUNTS},
}

#: Bounce class -> the ``saw_*`` evidence it gives; a missing class counts as undetermined.
_BOUNCE_EVIDENCE: dict[str, str] = {
    "hard": "saw_bounce_hard",
    "soft": "saw_bounce_soft",
    "undetermined": "saw_bounce_soft",
    "block": "saw_block",
}

_NAT = np.iinfo(np.int64).min  # numpy's NaT as int64 nanoseconds

_EVENT_INPUT_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "event",
    *MESSAGE_KEY,
    "bounce_class",
    "is_machine",
    *MESSAGE_KEY_COLUMNS,
)


def messages(events: pd.DataFrame) -> pd.DataFrame:
    """One row per message (``message_id`` × ``recipient``) with its outcome and engagement.

    Parameters
    ----------
    events : DataFrame
        Canonical events (:data:`deliverability_econ.schema.EVENT_COLUMNS`), in any order;
        ``event_id``, ``smtp_status`` and ``reason`` are not used.

    Returns
    -------
    DataFrame
        Columns :data:`MESSAGE_COLUMNS`, sorted by ``sent_at`` then key, default index:

        - ``message_id``, ``recipient``: the key. One ESP message id can cover several
          recipients (SES, Postfix, one SendGrid request), so the recipient is part of it.
        - ``sent_at`` [UTC]: the first ``processed`` event, else the earliest event.
        - ``recipient_domain``, ``mailbox_provider``, ``sending_ip``, ``ip_pool``, ``stream``,
          ``campaign``, ``esp``: from the earliest event that carries a value (ties at one
          instant: the smallest value); missing when no event has one.
        - ``delivered``, ``bounced_hard``, ``bounced_soft``, ``blocked``, ``dropped`` [bool]:
          the outcome, exclusive, by the precedence ``bounced_hard`` > ``blocked`` >
          ``bounced_soft`` > ``dropped`` > ``delivered``. A bounce after a delivery counts as
          bounced (``delivered`` is then False). ``bounced_soft`` includes the
          ``undetermined`` class and bounces without a class; ``blocked`` is the ``block``
          class.
        - ``deferred_attempts`` [deferrals]: number of ``deferred`` events.
        - ``opened_human``, ``opened_machine`` [bool]: at least one open not flagged / flagged
          ``is_machine``; a machine open never makes a human open.
        - ``clicked`` [bool]: at least one click not flagged ``is_machine``;
          ``clicked_machine`` [bool]: at least one flagged click (link scanner), which does not
          count as a click.
        - ``complained``, ``unsubscribed`` [bool].
        - ``delivery_latency_s`` [s]: first ``processed`` to first ``delivered``; NaN when
          either is missing. Kept when a later bounce overrides the delivery, because the
          receiving MTA did accept the message at that time.
        - ``first_open_human_at`` [UTC]: first human open, NaT when none.
        - ``final_status``: category of ``delivered``, ``bounced_hard``, ``bounced_soft``,
          ``blocked``, ``dropped``, ``pending`` (no terminal event seen).
        - ``event_count`` [events]: events of the message; the column sums to ``len(events)``.

    Notes
    -----
    Vectorized: one grouping of the events by key and a handful of grouped minima and counts,
    no Python loop per message. For chunked or distributed data use :func:`message_parts`,
    :func:`combine_message_parts` and :func:`finalize_messages`, which give exactly this result.

    Examples
    --------
    >>> table = messages(events)  # doctest: +SKIP
    >>> table.groupby("mailbox_provider", observed=True)["delivered"].mean()  # doctest: +SKIP
    """
    if is_dask_dataframe(events):  # the same steps, distributed: see _dask_engine
        from ._dask_engine import messages_dask

        return messages_dask(events)
    return _finalize(message_parts(events))


def message_parts(events: pd.DataFrame) -> pd.DataFrame:
    """Partial aggregate of a chunk of events: one row per message key found in the chunk.

    Parameters
    ----------
    events : DataFrame
        Canonical events; any subset of a larger table (one file, one time slice, one Dask
        partition).

    Returns
    -------
    DataFrame
        Columns :data:`MESSAGE_PART_DTYPES`: the key; ``first_event_at``, ``processed_at``,
        ``delivered_at``, ``first_open_human_at`` (earliest time of each, NaT if none); for each
        key column ``k`` its value and ``k_at``, when it was first seen; ``saw_*`` evidence of
        outcomes and the engagement flags (bool); ``event_count`` and ``deferred_attempts``
        (counts). Merge parts with :func:`combine_message_parts`.
    """
    frame = _prepare_events(events)
    codes, keys = _group_codes(frame)
    n_groups = len(keys)
    parts: dict[str, object] = {name: keys[name] for name in MESSAGE_KEY}

    timestamps = _ns(frame["timestamp"])
    event_codes = frame["event"].cat.codes.to_numpy()
    event_categories = list(frame["event"].dtype.categories)
    is_machine = frame["is_machine"].to_numpy(dtype=bool, na_value=False)

    def is_event(name: str) -> np.ndarray:
        return event_codes == event_categories.index(name)

    opened, clicked = is_event("opened"), is_event("clicked")
    human_open = opened & ~is_machine

    parts["first_event_at"] = _as_utc(_group_min(timestamps, codes, n_groups))
    parts["processed_at"] = _as_utc(_group_min(timestamps, codes, n_groups, is_event("processed")))
    parts["delivered_at"] = _as_utc(_group_min(timestamps, codes, n_groups, is_event("delivered")))
    parts["first_open_human_at"] = _as_utc(_group_min(timestamps, codes, n_groups, human_open))

    for name in MESSAGE_KEY_COLUMNS:
        at = np.where(frame[name].notna().to_numpy(), timestamps, _NAT)
        parts[name], parts[f"{name}_at"] = _group_first_value(frame[name], at, codes, n_groups)

    seen = {
        "saw_delivered": is_event("delivered"),
        "saw_dropped": is_event("dropped"),
        "opened_human": human_open,
        "opened_machine": opened & is_machine,
        "clicked": clicked & ~is_machine,
        "clicked_machine": clicked & is_machine,
        "complained": is_event("complained"),
        "unsubscribed": is_event("unsubscribed"),
    }
    bounced = is_event("bounced")
    class_codes = frame["bounce_class"].cat.codes.to_numpy()
    class_categories = list(frame["bounce_class"].dtype.categories)
    seen["saw_bounce_soft"] = bounced & (class_codes < 0)  # no class: as undetermined
    for bounce_class, evidence in _BOUNCE_EVIDENCE.items():
        of_class = bounced & (class_codes == class_categories.index(bounce_class))
        seen[evidence] = seen[evidence] | of_class if evidence in seen else of_class
    for name in _PART_SEEN:
        parts[name] = _group_any(seen[name], codes, n_groups)

    parts["event_count"] = np.bincount(codes, minlength=n_groups).astype("int64")
    parts["deferred_attempts"] = np.bincount(
        codes[is_event("deferred")], minlength=n_groups
    ).astype("int64")
    return pd.DataFrame({name: parts[name] for name in MESSAGE_PART_DTYPES})


def combine_message_parts(parts: Iterable[pd.DataFrame] | pd.DataFrame) -> pd.DataFrame:
    """Merge partial message tables into one row per message key.

    The merge is associative and commutative: times take their minimum, counts their sum,
    ``saw_*`` and engagement flags their "any", and each key column the value with the
    earliest ``k_at`` (ties: the smallest value). Combining the parts of any split of the
    events, in any grouping, gives the parts of the whole.

    Parameters
    ----------
    parts : DataFrame or iterable of DataFrames
        Outputs of :func:`message_parts` or of this function.

    Returns
    -------
    DataFrame
        Same columns as :func:`message_parts`, one row per key, sorted by key.
    """
    if isinstance(parts, pd.DataFrame):
        parts = [parts]
    frames = [part for part in parts if len(part)]
    if not frames:
        return _empty(MESSAGE_PART_DTYPES)
    for index, part in enumerate(frames):
        missing = [name for name in MESSAGE_PART_DTYPES if name not in part.columns]
        if missing:
            raise ValueError(
                f"part {index} is not an output of message_parts; missing columns: "
                + ", ".join(missing)
            )
    frame = pd.concat([_cast(f, MESSAGE_PART_DTYPES) for f in frames], ignore_index=True)
    codes, keys = _group_codes(frame)
    n_groups = len(keys)
    combined: dict[str, object] = {name: keys[name] for name in MESSAGE_KEY}

    for name in _PART_TIMES:
        combined[name] = _as_utc(_group_min(_ns(frame[name]), codes, n_groups))
    for name in MESSAGE_KEY_COLUMNS:
        combined[name], combined[f"{name}_at"] = _group_first_value(
            frame[name], _ns(frame[f"{name}_at"]), codes, n_groups
        )
    for name in _PART_SEEN:
        combined[name] = _group_any(frame[name].to_numpy(dtype=bool), codes, n_groups)
    for name in _PART_COUNTS:
        combined[name] = _group_sum(frame[name].to_numpy(dtype="int64"), codes, n_groups)
    return pd.DataFrame({name: combined[name] for name in MESSAGE_PART_DTYPES})


def finalize_messages(parts: pd.DataFrame) -> pd.DataFrame:
    """Turn combined partials into the messages table (see :func:`messages`).

    Parameters
    ----------
    parts : DataFrame
        Output of :func:`combine_message_parts` (or of :func:`message_parts` on the whole
        events table): one row per message key.

    Returns
    -------
    DataFrame
        The messages table, identical to ``messages(events)`` for the same events.

    Raises
    ------
    ValueError
        If a key appears more than once (parts that were not combined).
    """
    duplicated = parts.duplicated(list(MESSAGE_KEY))
    if duplicated.any():
        first = parts.loc[duplicated, list(MESSAGE_KEY)].iloc[0].tolist()
        raise ValueError(
            f"{int(duplicated.sum())} message keys appear in more than one part (first: "
            f"message_id={first[0]!r}); call combine_message_parts first"
        )
    return _finalize(_cast(parts, MESSAGE_PART_DTYPES))


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _finalize(parts: pd.DataFrame) -> pd.DataFrame:
    parts = parts.reset_index(drop=True)
    out: dict[str, object] = {
        "message_id": parts["message_id"],
        "recipient": parts["recipient"],
        "sent_at": parts["processed_at"].fillna(parts["first_event_at"]),
        **{name: parts[name] for name in MESSAGE_KEY_COLUMNS},
    }
    evidence = {
        "bounced_hard": parts["saw_bounce_hard"].to_numpy(dtype=bool),
        "blocked": parts["saw_block"].to_numpy(dtype=bool),
        "bounced_soft": parts["saw_bounce_soft"].to_numpy(dtype=bool),
        "dropped": parts["saw_dropped"].to_numpy(dtype=bool),
        "delivered": parts["saw_delivered"].to_numpy(dtype=bool),
    }
    status = np.select(
        [evidence[name] for name in OUTCOME_PRECEDENCE], list(OUTCOME_PRECEDENCE), "pending"
    )
    for name in OUTCOME_FLAGS:
        out[name] = status == name
    out["deferred_attempts"] = parts["deferred_attempts"].to_numpy(dtype="int64")
    for name in ENGAGEMENT_FLAGS:
        out[name] = parts[name].to_numpy(dtype=bool)
    processed = _ns(parts["processed_at"])
    delivered = _ns(parts["delivered_at"])
    both = (processed != _NAT) & (delivered != _NAT)
    out["delivery_latency_s"] = np.where(both, (delivered - processed) / 1e9, np.nan)
    out["first_open_human_at"] = parts["first_open_human_at"]
    out["final_status"] = pd.Categorical(status, dtype=MESSAGE_DTYPES["final_status"])
    out["event_count"] = parts["event_count"].to_numpy(dtype="int64")
    table = pd.DataFrame({name: out[name] for name in MESSAGE_DTYPES})
    # Parts come sorted by key, so a stable sort on the time orders ties by key.
    table = table.sort_values("sent_at", kind="stable", ignore_index=True)
    return _cast(table, MESSAGE_DTYPES)


def _prepare_events(events: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in _EVENT_INPUT_COLUMNS if name not in events.columns]
    if missing:
        raise ValueError(
            "messages() needs canonical events (schema.EVENT_COLUMNS); missing columns: "
            + ", ".join(missing)
        )
    frame = events[list(_EVENT_INPUT_COLUMNS)]
    dtypes = {name: EVENT_DTYPES[name] for name in _EVENT_INPUT_COLUMNS}
    return _cast(frame, dtypes)


def _cast(frame: pd.DataFrame, dtypes: dict[str, object]) -> pd.DataFrame:
    """``frame[list(dtypes)]`` with those dtypes; columns already right are not copied."""
    if list(frame.columns) == list(dtypes) and all(
        frame.dtypes.iloc[i] == dtype for i, dtype in enumerate(dtypes.values())
    ):
        return frame
    out = {}
    for name, dtype in dtypes.items():
        column = frame[name]
        if column.dtype != dtype:
            if isinstance(dtype, pd.DatetimeTZDtype) and not isinstance(
                column.dtype, pd.DatetimeTZDtype
            ):
                column = pd.to_datetime(column, utc=True)
            column = column.astype(dtype)
        out[name] = column
    return pd.DataFrame(out, index=frame.index)


def _empty(dtypes: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def _group_codes(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer group of every row by message key and a frame of the distinct keys in group
    order (sorted by ``message_id`` then ``recipient``; a missing value sorts last and is a
    group of its own)."""
    id_codes, id_values = _sorted_codes(frame["message_id"])
    recipient_codes, recipient_values = _sorted_codes(frame["recipient"])
    stride = len(recipient_values) + 1
    pair = id_codes.astype("int64") * stride + recipient_codes
    codes, pairs = pd.factorize(pair, sort=True)
    keys = pd.DataFrame(
        {
            "message_id": _take(id_values, pairs // stride),
            "recipient": _take(recipient_values, pairs % stride),
        }
    )
    return codes.astype(np.intp, copy=False), keys


def _sorted_codes(values: pd.Series) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray]:
    """Codes in the sort order of the distinct values; a missing value gets the last code."""
    codes, uniques = pd.factorize(values, sort=True)
    uniques = pd.array(uniques, dtype=values.dtype)
    return np.where(codes < 0, len(uniques), codes), uniques


def _take(uniques: pd.api.extensions.ExtensionArray, codes: np.ndarray) -> pd.Series:
    """``uniques[codes]`` where a code past the end (or -1) means missing."""
    codes = np.where((codes < 0) | (codes >= len(uniques)), -1, codes)
    return pd.Series(uniques.take(codes, allow_fill=True), dtype=uniques.dtype)


def _ns(times: pd.Series) -> np.ndarray:
    """UTC times as int64 nanoseconds, NaT as ``_NAT``."""
    return times.to_numpy(dtype="datetime64[ns]").view("int64")


def _as_utc(nanoseconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(nanoseconds.view("datetime64[ns]"), tz="UTC"))


_NONE = np.iinfo(np.int64).max  # "no value yet" in a running minimum


def _group_min(
    values: np.ndarray, codes: np.ndarray, n_groups: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """Per-group minimum of int64 times, ignoring ``_NAT`` and rows outside ``mask``;
    ``_NAT`` for a group with no such row."""
    keep = values != _NAT
    if mask is not None:
        keep &= mask
    out = np.full(n_groups, _NONE, dtype="int64")
    np.minimum.at(out, codes[keep], values[keep])
    out[out == _NONE] = _NAT
    return out


def _group_any(flags: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(codes[flags], minlength=n_groups) > 0


def _group_sum(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros(n_groups, dtype="int64")
    np.add.at(out, codes, values.astype("int64", copy=False))
    return out


def _group_first_value(
    values: pd.Series, at: np.ndarray, codes: np.ndarray, n_groups: int
) -> tuple[pd.Series, pd.Series]:
    """Per group: the value seen earliest (``at``), ties broken by the smallest value.

    Returns the value (dtype of ``values``, missing when the group has none) and its time.
    Categoricals compare by category order, strings by string order; either order is fixed,
    so the choice does not depend on how rows were chunked.
    """
    has_value = values.notna().to_numpy() & (at != _NAT)
    earliest = _group_min(at, codes, n_groups, has_value)
    candidate = has_value & (at == earliest[codes])
    if isinstance(values.dtype, pd.CategoricalDtype):
        value_codes = values.cat.codes.to_numpy()[candidate].astype("int64")
        uniques = pd.Categorical.from_codes(
            np.arange(len(values.dtype.categories)), dtype=values.dtype
        )
    else:
        value_codes, uniques = _sorted_codes(values[candidate])
    best = np.full(n_groups, _NONE, dtype="int64")
    np.minimum.at(best, codes[candidate], value_codes)
    chosen = pd.Series(
        uniques.take(np.where(best == _NONE, -1, best), allow_fill=True), dtype=values.dtype
    )
    return chosen, _as_utc(earliest)
