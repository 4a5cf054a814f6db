"""The canonical tables, written down once.

Every reader produces the **events** table described here, whatever the source format; every
later layer (messages, cube, models) relies on nothing else. The columns, their dtypes and the
controlled vocabularies are module constants so that readers, tests and notebooks index the same
registry (see DESIGN.md, "Canonical tables").

All times are timezone-aware UTC.
"""

from __future__ import annotations

import pandas as pd

#: Canonical event types, in funnel order.
EVENT_TYPES: tuple[str, ...] = (
    "processed",
    "delivered",
    "deferred",
    "bounced",
    "dropped",
    "opened",
    "clicked",
    "complained",
    "unsubscribed",
)

#: ``bounce_class`` vocabulary; only set on ``bounced`` events.
#: ``hard``: the address is permanently undeliverable; ``soft``: a temporary failure the ESP
#: stopped retrying (mailbox full, timeout, expiry); ``block``: refused for reputation, policy or
#: content; ``undetermined``: the ESP could not tell.
BOUNCE_CLASSES: tuple[str, ...] = ("hard", "soft", "block", "undetermined")

#: Mailbox providers the kit knows by name (see :mod:`deliverability_econ.providers`).
MAILBOX_PROVIDERS: tuple[str, ...] = (
    "gmail",
    "microsoft",
    "yahoo",
    "apple",
    "gmx",
    "mailru",
    "yandex",
    "qq",
    "netease",
    "comcast",
    "att",
    "orange",
    "t-online",
    "libero",
    "proton",
    "zoho",
    "fastmail",
    "naver",
    "daum",
    "rediff",
    "seznam",
    "wp",
    "onet",
    "interia",
    "free",
    "sfr",
    "laposte",
    "cox",
    "charter",
    "verizon",
    "shaw",
    "rogers",
    "bigpond",
    "optusnet",
    "uol",
    "terra",
    "other",
)

#: Source formats a reader can emit in the ``esp`` column.
ESP_FORMATS: tuple[str, ...] = (
    "sendgrid",
    "ses",
    "mailgun",
    "postmark",
    "sparkpost",
    "mandrill",
    "brevo",
    "postfix",
    "csv",
)

#: Canonical events columns, in order, with their pandas dtypes.
EVENT_DTYPES: dict[str, object] = {
    "timestamp": pd.DatetimeTZDtype(unit="ns", tz="UTC"),
    "event": pd.CategoricalDtype(list(EVENT_TYPES)),
    "message_id": pd.StringDtype(),
    "event_id": pd.StringDtype(),
    "recipient": pd.StringDtype(),
    "recipient_domain": pd.StringDtype(),
    "mailbox_provider": pd.CategoricalDtype(list(MAILBOX_PROVIDERS)),
    "sending_ip": pd.StringDtype(),
    "ip_pool": pd.StringDtype(),
    "stream": pd.StringDtype(),
    "campaign": pd.StringDtype(),
    "bounce_class": pd.CategoricalDtype(list(BOUNCE_CLASSES)),
    "is_machine": pd.BooleanDtype(),
    "smtp_status": pd.StringDtype(),
    "reason": pd.StringDtype(),
    "esp": pd.CategoricalDtype(list(ESP_FORMATS)),
}

EVENT_COLUMNS: tuple[str, ...] = tuple(EVENT_DTYPES)

#: Columns that may never be missing.
REQUIRED_EVENT_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "event",
    "message_id",
    "event_id",
    "recipient",
    "recipient_domain",
    "mailbox_provider",
    "is_machine",
    "esp",
)

#: Enhanced status code, RFC 3463: class.subject.detail.
SMTP_STATUS_PATTERN = r"^[245]\.\d{1,3}\.\d{1,3}$"


def empty_events() -> pd.DataFrame:
    """An events table with no rows and the canonical columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in EVENT_DTYPES.items()})


def coerce_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical columns, in order, cast to their dtypes.

    Missing optional columns are added as all-missing. Values outside a categorical's vocabulary
    become missing, which :func:`validate_events` then reports; call it on data you did not
    produce yourself.

    Parameters
    ----------
    frame : DataFrame
        Events in canonical column names.

    Returns
    -------
    DataFrame
    """
    out = {}
    n = len(frame)
    for name, dtype in EVENT_DTYPES.items():
        if name in frame.columns:
            column = frame[name]
            if name == "timestamp":
                column = pd.to_datetime(column, utc=True).astype(dtype)
            else:
                column = column.astype(dtype)
        else:
            column = pd.Series(pd.array([None] * n, dtype=dtype), index=frame.index)
        out[name] = column
    return pd.DataFrame(out, index=frame.index)


def validate_events(events: pd.DataFrame) -> pd.DataFrame:
    """Check an events table against the canonical schema.

    Parameters
    ----------
    events : DataFrame
        A table claiming to be canonical events.

    Returns
    -------
    DataFrame
        The offending rows (with their original index) and a ``problem`` column saying what is
        wrong; one row per problem, so a row with two problems appears twice. Empty when the
        table is valid. Missing columns and wrong dtypes are reported with an index of ``-1``
        and ``column`` naming the column.
    """
    problems: list[pd.DataFrame] = []
    structural: list[dict] = []

    for name, dtype in EVENT_DTYPES.items():
        if name not in events.columns:
            structural.append({"column": name, "problem": f"missing column {name!r}"})
        elif not _dtype_matches(events[name].dtype, dtype):
            structural.append(
                {
                    "column": name,
                    "problem": f"column {name!r} has dtype {events[name].dtype}, expected {dtype}",
                }
            )
    extra = [c for c in events.columns if c not in EVENT_DTYPES]
    for name in extra:
        structural.append({"column": name, "problem": f"unexpected column {name!r}"})

    def flag(mask: pd.Series, problem: str) -> None:
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            rows = events.loc[mask].copy()
            rows["problem"] = problem
            problems.append(rows)

    present = set(events.columns)
    for name in REQUIRED_EVENT_COLUMNS:
        if name in present:
            flag(events[name].isna(), f"{name} is missing")

    if "event" in present:
        known = events["event"].astype("object").isin(EVENT_TYPES)
        flag(~known & events["event"].notna(), "event is not a canonical event type")
    if "bounce_class" in present and "event" in present:
        has_class = events["bounce_class"].notna()
        is_bounce = events["event"].astype("object") == "bounced"
        flag(has_class & ~is_bounce, "bounce_class set on an event that is not 'bounced'")
        flag(is_bounce & ~has_class, "bounced event without bounce_class")
        known_class = events["bounce_class"].astype("object").isin(BOUNCE_CLASSES)
        flag(has_class & ~known_class, "bounce_class outside the vocabulary")
    if "mailbox_provider" in present:
        known_provider = events["mailbox_provider"].astype("object").isin(MAILBOX_PROVIDERS)
        flag(~known_provider & events["mailbox_provider"].notna(), "unknown mailbox_provider")
    if "timestamp" in present and isinstance(events["timestamp"].dtype, pd.DatetimeTZDtype):
        if str(events["timestamp"].dtype.tz) != "UTC":
            structural.append({"column": "timestamp", "problem": "timestamp is not in UTC"})
    if "smtp_status" in present:
        status = events["smtp_status"].astype("string")
        bad = status.notna() & ~status.str.match(SMTP_STATUS_PATTERN).fillna(False)
        flag(bad, "smtp_status is not an enhanced status code like 5.1.1")
    if "event_id" in present:
        flag(events["event_id"].duplicated(keep="first") & events["event_id"].notna(),
             "duplicate event_id")
    if "recipient" in present:
        looks_clear = events["recipient"].astype("string").str.contains("@", regex=False)
        # Clear addresses are allowed (pseudonymize=False) but then the domain must agree.
        if "recipient_domain" in present:
            domain = events["recipient"].astype("string").str.rsplit("@", n=1).str[-1].str.lower()
            flag(looks_clear & (domain != events["recipient_domain"]),
                 "recipient_domain does not match recipient")

    if structural:
        frame = pd.DataFrame(structural, index=pd.Index([-1] * len(structural)))
        problems.insert(0, frame)
    if not problems:
        empty = events.iloc[0:0].copy()
        empty["problem"] = pd.Series(dtype="string")
        return empty
    return pd.concat(problems, axis=0, sort=False)


def _dtype_matches(actual: object, expected: object) -> bool:
    if isinstance(expected, pd.CategoricalDtype):
        return isinstance(actual, pd.CategoricalDtype) and set(actual.categories) <= set(
            expected.categories
        )
    if isinstance(expected, pd.DatetimeTZDtype):
        return isinstance(actual, pd.DatetimeTZDtype)
    if isinstance(expected, pd.StringDtype):
        return isinstance(actual, pd.StringDtype)
    return actual == expected
