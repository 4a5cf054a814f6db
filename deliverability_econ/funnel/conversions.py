"""Learning conversion rates from the sender's own outcomes.

:func:`read_conversions` reads a CSV of conversions (recipient, time, type) and pseudonymizes the
recipients with the key used for the events (:mod:`deliverability_econ.privacy`), so the two
join. :func:`attribute_conversions` gives each conversion to the latest message of the funnel's
stream sent to that recipient before it, within the stage's ``attribution_window_hours``.
:func:`estimate_conversion` then estimates, per funnel, the conversion of a seen and of an
unseen message from the data instead of the defaults.

Logs do not say which folder a message landed in. Two ways around it:

``method="placement"``
    Among delivered messages a share ``S`` was seen (inbox, plus ``spam_rescue`` times spam,
    within the deadline), from the placement table; undelivered messages were never seen. So

    .. math:: P(conv \\mid delivered) = S\\,c_{seen} + (1 - S)\\,c_{unseen}, \\qquad
              P(conv \\mid not\\ delivered) = c_{unseen}

    and :math:`c_{seen} = c_{unseen} + (P(conv \\mid delivered) - c_{unseen}) / S`. The interval
    propagates the binomial noise of both rates (Jeffreys posteriors), the placement interval
    and the ``spam_rescue`` range by Monte Carlo. ``placement`` may also be a table with the
    true ``folder`` of each message (the simulator's ``messages_truth``): then ``S`` is exact.
    This ``c_seen`` is the conversion of a message placed in the inbox, the quantity the
    leakage model uses.
``method="engagement"``
    A message with a human open within the attribution window was read: ``c_seen`` is the
    conversion of read messages, ``c_unseen`` that of undelivered ones. Machine opens (Apple
    Mail Privacy Protection) are not reads; readers behind MPP are left out of the "read"
    group, not counted as unread. This is the conversion *given a read* (``basis="read"``),
    higher than given inbox placement; it does not feed the leakage model directly.

Rates are measured per message; for a stage whose ``messages_per_conversion`` is ``k > 1``
(a sequence of mails serving one conversion, each conversion credited to the last message
before it) they are multiplied by ``k`` to give the rate per conversion opportunity.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtri

from .._random import RandomState, check_random_state
from ..io._base import InputFormatError
from ..privacy import PSEUDONYM_LENGTH, pseudonymize_address, resolve_salt, scrub_text
from .config import FunnelConfig, default_funnels
from .impact import FunnelWarning, _draw_parameter, _PlacementTable, _volumes

#: Accepted header names per column (case-insensitive), canonical name first.
CONVERSION_COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "recipient": ("recipient", "email", "email_address", "address", "user_email", "to"),
    "timestamp": ("timestamp", "time", "converted_at", "occurred_at", "event_time", "date"),
    "conversion_type": ("conversion_type", "type", "conversion", "event", "goal"),
}

_PSEUDONYM = re.compile(rf"^[0-9a-f]{{{PSEUDONYM_LENGTH}}}$")

ESTIMATE_METHODS: tuple[str, ...] = ("placement", "engagement")


def read_conversions(path: str | Path, salt: str | bytes | None = None, *,
                     errors: str = "raise", timezone: str = "UTC") -> tuple[pd.DataFrame, dict]:
    """Read a CSV of conversions: who converted, when, and to what.

    Parameters
    ----------
    path : str or Path
        A CSV (optionally ``.gz``, ``.bz2``, ``.zip``) with a header holding a recipient column
        (``recipient``, ``email``, ...), a time column (``timestamp``, ``converted_at``, ...)
        and a type column (``conversion_type``, ``type``, ...); see
        :data:`CONVERSION_COLUMN_ALIASES`. Other columns are ignored.
    salt : str or bytes, optional
        Pseudonymization key; the same as the events' (argument, else
        ``DELIVERABILITY_ECON_SALT``, else the installation's key file). Addresses are
        lower-cased and hashed; a value that already is a pseudonym (24 hex characters) is
        kept, so pre-hashed exports join too.
    errors : {"raise", "quarantine"}
        A bad row (empty field, unreadable time, recipient that is neither an address nor a
        pseudonym) raises :class:`~deliverability_econ.io.InputFormatError` naming the file,
        line and field, or is set aside in ``meta["quarantine"]`` with its reason.
    timezone : str
        IANA zone of times written without one (default UTC). Epoch numbers are seconds, or
        milliseconds above 1e11.

    Returns
    -------
    conversions : DataFrame
        ``recipient`` (pseudonym, string), ``timestamp`` (UTC), ``conversion_type`` (lower-case
        string), sorted by time; exact duplicate rows are dropped.
    meta : dict
        ``source``, ``records_read``, ``conversions``, ``duplicates``, ``quarantined``,
        ``quarantine`` (DataFrame: ``source``, ``location``, ``field``, ``reason``, ``raw``
        with addresses scrubbed); ``records_read == conversions + duplicates + quarantined``.
    """
    if errors not in ("raise", "quarantine"):
        raise ValueError(f"errors must be 'raise' or 'quarantine', not {errors!r}")
    source = str(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    lower = {c.strip().lower(): c for c in raw.columns}
    columns = {}
    for canonical, aliases in CONVERSION_COLUMN_ALIASES.items():
        found = next((lower[a] for a in aliases if a in lower), None)
        if found is None:
            raise InputFormatError(source, "line 1 (header)", canonical,
                                   "missing column; accepted names: " + ", ".join(aliases))
        columns[canonical] = found
    key = resolve_salt(salt)
    lines = np.arange(len(raw)) + 2  # the header is line 1
    recipient = raw[columns["recipient"]].str.strip()
    kind = raw[columns["conversion_type"]].str.strip().str.lower()
    text_time = raw[columns["timestamp"]].str.strip()
    timestamp = _parse_times(text_time, timezone)

    problems: list[tuple[int, str, str]] = []
    is_address = recipient.str.contains("@", regex=False)
    is_pseudonym = recipient.str.fullmatch(_PSEUDONYM.pattern)
    checks = (
        ("recipient", recipient == "", "empty"),
        ("recipient", (recipient != "") & ~is_address & ~is_pseudonym,
         "neither an e-mail address nor a pseudonym"),
        ("timestamp", text_time == "", "empty"),
        ("timestamp", (text_time != "") & timestamp.isna(), "not a readable time"),
        ("conversion_type", kind == "", "empty"),
    )
    bad = np.zeros(len(raw), dtype=bool)
    for field_name, mask, reason in checks:
        mask = mask.to_numpy(dtype=bool)
        for position in np.flatnonzero(mask & ~bad):
            problems.append((int(position), columns[field_name], reason))
        bad |= mask
    problems.sort()
    if problems and errors == "raise":
        position, field_name, reason = problems[0]
        raise InputFormatError(source, f"line {lines[position]}", field_name, reason)
    quarantine = pd.DataFrame(
        [{"source": source, "location": f"line {lines[p]}", "field": f, "reason": r,
          "raw": scrub_text(",".join(raw.iloc[p].tolist()))} for p, f, r in problems],
        columns=["source", "location", "field", "reason", "raw"])

    good = ~bad
    hashed = [pseudonymize_address(v, key) if "@" in v else v for v in recipient[good]]
    table = pd.DataFrame({
        "recipient": pd.array(hashed, dtype="string"),
        "timestamp": timestamp[good].to_numpy(),
        "conversion_type": pd.array(kind[good].to_numpy(), dtype="string"),
    })
    table["timestamp"] = pd.to_datetime(table["timestamp"], utc=True).astype(
        "datetime64[ns, UTC]")
    before = len(table)
    table = table.drop_duplicates().sort_values("timestamp", kind="stable", ignore_index=True)
    meta = {
        "source": source,
        "records_read": len(raw),
        "conversions": len(table),
        "duplicates": before - len(table),
        "quarantined": int(bad.sum()),
        "quarantine": quarantine,
    }
    return table, meta


def attribute_conversions(messages: pd.DataFrame, conversions: pd.DataFrame,
                          config: FunnelConfig | None = None) -> pd.DataFrame:
    """Mark each funnel message that led to a conversion (last touch within the window).

    A conversion of the funnel's ``conversion_type`` at time ``t`` by a recipient goes to the
    latest message of the funnel's stream sent to that recipient at or before ``t`` and no
    more than the email stage's ``attribution_window_hours`` earlier. A message is converted
    when at least one conversion goes to it.

    Parameters
    ----------
    messages : DataFrame
        The messages table (pseudonymized recipients).
    conversions : DataFrame
        :func:`read_conversions` output.
    config : FunnelConfig, optional

    Returns
    -------
    DataFrame
        The funnels' messages (``funnel`` column added), with ``converted`` [bool].
    """
    config = config or default_funnels()
    for column in ("recipient", "timestamp", "conversion_type"):
        if column not in conversions.columns:
            raise ValueError(f"conversions lack column {column!r} (see read_conversions)")
    sent_at = pd.to_datetime(messages["sent_at"], utc=True).astype("datetime64[ns, UTC]")
    conv_time = pd.to_datetime(conversions["timestamp"], utc=True).astype("datetime64[ns, UTC]")
    conv_type = conversions["conversion_type"].astype("string").str.lower()
    parts = []
    stream = messages["stream"].astype("string")
    for funnel in config.funnels.values():
        mask = (stream == funnel.stream).fillna(False).to_numpy()
        if not mask.any():
            continue
        part = messages[mask].copy()
        part["sent_at"] = sent_at[mask]
        part.insert(0, "funnel", funnel.name)
        part["_row"] = np.arange(len(part))
        window = pd.Timedelta(
            hours=funnel.email_stage.parameters["attribution_window_hours"].value)
        of_type = (conv_type == funnel.conversion_type.lower()).fillna(False).to_numpy()
        left = pd.DataFrame({"recipient": conversions["recipient"].astype("string")[of_type]
                             .to_numpy(), "t": conv_time[of_type].to_numpy()})
        left = left.dropna().sort_values("t", kind="stable")
        right = pd.DataFrame({"recipient": part["recipient"].astype("string").to_numpy(),
                              "t": part["sent_at"].to_numpy(), "_row": part["_row"].to_numpy()})
        right = right.dropna(subset=["recipient"]).sort_values("t", kind="stable")
        converted = np.zeros(len(part), dtype=bool)
        if len(left) and len(right):
            matched = pd.merge_asof(left, right, on="t", by="recipient", direction="backward",
                                    tolerance=window)
            rows = matched["_row"].dropna().to_numpy(dtype=np.intp)
            converted[rows] = True
        part["converted"] = converted
        parts.append(part.drop(columns="_row"))
    if not parts:
        raise ValueError("no messages in any funnel's stream")
    return pd.concat(parts, ignore_index=True)


def estimate_conversion(
    messages: pd.DataFrame,
    conversions: pd.DataFrame,
    placement: pd.DataFrame | None = None,
    config: FunnelConfig | None = None,
    *,
    method: str = "placement",
    interval: float = 0.9,
    draws: int = 4000,
    random_state: RandomState = None,
) -> pd.DataFrame:
    """Estimate each funnel's conversion when its mail is seen and when it is not.

    Parameters
    ----------
    messages : DataFrame
        The messages table (pseudonymized with the conversions' key).
    conversions : DataFrame
        :func:`read_conversions` output (or any table with ``recipient``, ``timestamp``,
        ``conversion_type``).
    placement : DataFrame, optional
        For ``method="placement"``: a placement table (``estimate_placement`` output; see
        :func:`~deliverability_econ.funnel.funnel_impact`) or a per-message table with
        ``message_id``, ``recipient`` and the true ``folder`` (``inbox``/``spam``/``missing``),
        such as the simulator's ``messages_truth`` (recipients pseudonymized alike).
    config : FunnelConfig, optional
        Funnels: streams, conversion types, windows, deadlines and ``spam_rescue`` ranges.
    method : {"placement", "engagement"}
        See the module docstring.
    interval : float
        Probability of the reported intervals, and of the placement table's intervals.
    draws : int
        Monte Carlo draws for the intervals.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    DataFrame
        One row per funnel with messages: ``funnel``, ``stream``, ``stage``, ``method``,
        ``basis`` (``inbox``: conversion given inbox placement in time; ``read``: given a
        human read in time), ``messages``, ``delivered``, ``seen`` (messages seen, exact or
        expected) [messages], ``converted`` [messages], ``seen_share_of_delivered``
        [fraction], ``conversion_if_seen``, ``conversion_if_seen_low``,
        ``conversion_if_seen_high``, ``conversion_if_unseen``, ``conversion_if_unseen_low``,
        ``conversion_if_unseen_high`` [fraction 0-1], and ``key_if_seen``, ``key_if_unseen``
        (the config keys they estimate; :func:`estimated_parameters`).

    Warns
    -----
    FunnelWarning
        When no undelivered message of a funnel is left to measure ``c_unseen``: the config's
        range is used instead.
    """
    config = config or default_funnels()
    if method not in ESTIMATE_METHODS:
        raise ValueError(f"method must be one of {ESTIMATE_METHODS}, not {method!r}")
    if not 0 < interval < 1:
        raise ValueError(f"interval must be in (0, 1), not {interval!r}")
    rng = check_random_state(random_state)
    attributed = attribute_conversions(messages, conversions, config)
    per_message_folder = placement is not None and "folder" in placement.columns
    table = None
    if method == "placement":
        if placement is None:
            raise ValueError("method='placement' needs a placement table or per-message folders")
        if per_message_folder:
            attributed = _with_folder(attributed, placement)
        else:
            table = _PlacementTable(placement, "placement")
            inbox_draws = table.draw(rng, draws, float(ndtri((1 + interval) / 2)), "shared")
    tails = (100 * (1 - interval) / 2, 100 * (1 + interval) / 2)

    rows = []
    for funnel in config.funnels.values():
        part = attributed[attributed["funnel"] == funnel.name]
        if part.empty:
            continue
        email = funnel.email_stage
        prefix = f"{funnel.name}.{email.name}."
        delivered = part["delivered"].to_numpy(dtype=bool, na_value=False)
        converted = part["converted"].to_numpy(dtype=bool)
        n_miss, k_miss = int((~delivered).sum()), int((converted & ~delivered).sum())
        if n_miss:
            c_unseen = _jeffreys(rng, k_miss, n_miss, draws)
            c_unseen_point = k_miss / n_miss
        else:
            warnings.warn(f"funnel {funnel.name!r}: every message was delivered, so the "
                          "conversion of unseen mail is not measured; using the config's range",
                          FunnelWarning, stacklevel=2)
            c_unseen = _draw_parameter(rng, email.parameters["conversion_if_unseen"], draws)
            c_unseen_point = email.parameters["conversion_if_unseen"].value
        window = pd.Timedelta(hours=email.parameters["attribution_window_hours"].value)
        deadline_s = email.parameters["deadline_minutes"].value * 60.0
        latency = part["delivery_latency_s"].to_numpy(dtype=float, na_value=np.nan) \
            if "delivery_latency_s" in part.columns else np.full(len(part), np.nan)
        in_time = delivered & ~(latency > deadline_s)

        if method == "engagement":
            basis = "read"
            opened_at = pd.to_datetime(part["first_open_human_at"], utc=True)
            read = (part["opened_human"].to_numpy(dtype=bool, na_value=False)
                    & ((opened_at - part["sent_at"]) <= window).fillna(False).to_numpy())
            n_seen, k_seen = int(read.sum()), int((read & converted).sum())
            c_seen = _jeffreys(rng, k_seen, max(n_seen, 0), draws) if n_seen else \
                np.full(draws, np.nan)
            c_seen_point = k_seen / n_seen if n_seen else np.nan
            seen_expected = float(n_seen)
        elif per_message_folder:
            basis = "inbox"
            folder = part["folder"].astype("string").to_numpy()
            rescue = _draw_parameter(rng, email.parameters["spam_rescue"], draws)
            seen = (folder == "inbox") & in_time
            n_seen, k_seen = int(seen.sum()), int((seen & converted).sum())
            c_seen = _jeffreys(rng, k_seen, n_seen, draws) if n_seen else np.full(draws, np.nan)
            c_seen_point = k_seen / n_seen if n_seen else np.nan
            in_spam = (folder == "spam") & in_time
            seen_expected = float(n_seen + rescue.mean() * in_spam.sum())
        else:
            basis = "inbox"
            cells = _volumes(part.assign(stream=funnel.stream),
                             _single_funnel_config(config, funnel.name))
            row = table.match(cells)
            inbox = inbox_draws[row]
            spam = (1.0 - inbox) * table.spam_split[row][:, None]
            rescue = _draw_parameter(rng, email.parameters["spam_rescue"], draws)[None, :]
            with np.errstate(invalid="ignore", divide="ignore"):
                visible_of_delivered = np.nan_to_num((inbox + rescue * spam) / (inbox + spam))
            d_cell = cells["delivered"].to_numpy(float)[:, None]
            t_cell = cells["in_time_share"].to_numpy(float)[:, None]
            share = (d_cell * visible_of_delivered * t_cell).sum(axis=0) / max(d_cell.sum(), 1)
            n_del, k_del = int(delivered.sum()), int((delivered & converted).sum())
            p_delivered = _jeffreys(rng, k_del, n_del, draws) if n_del else np.full(draws, np.nan)
            with np.errstate(invalid="ignore", divide="ignore"):
                c_seen = np.clip(c_unseen + (p_delivered - c_unseen) / share, 0.0, 1.0)
                point_share = float(np.median(share))
                c_seen_point = float(np.clip(
                    c_unseen_point + (k_del / max(n_del, 1) - c_unseen_point) / point_share,
                    0.0, 1.0))
            seen_expected = point_share * n_del
        per_opportunity = email.parameters["messages_per_conversion"].value
        if per_opportunity != 1:
            # Last-touch credit spreads one opportunity's conversion over its k messages.
            c_seen, c_unseen = (np.clip(c * per_opportunity, 0, 1) for c in (c_seen, c_unseen))
            c_seen_point = min(1.0, c_seen_point * per_opportunity)
            c_unseen_point = min(1.0, c_unseen_point * per_opportunity)
        n_delivered = int(delivered.sum())
        rows.append({
            "funnel": funnel.name,
            "stream": funnel.stream,
            "stage": email.name,
            "method": method,
            "basis": basis,
            "messages": len(part),
            "delivered": n_delivered,
            "seen": seen_expected,
            "converted": int(converted.sum()),
            "seen_share_of_delivered": seen_expected / n_delivered if n_delivered else np.nan,
            "conversion_if_seen": c_seen_point,
            "conversion_if_seen_low": _percentile(c_seen, tails[0]),
            "conversion_if_seen_high": _percentile(c_seen, tails[1]),
            "conversion_if_unseen": c_unseen_point,
            "conversion_if_unseen_low": _percentile(c_unseen, tails[0]),
            "conversion_if_unseen_high": _percentile(c_unseen, tails[1]),
            "key_if_seen": prefix + "conversion_if_seen",
            "key_if_unseen": prefix + "conversion_if_unseen",
        })
    return pd.DataFrame(rows)


def estimated_parameters(estimates: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """Turn :func:`estimate_conversion` output into config overrides.

    Returns ``{key: (value, low, high)}`` for
    :meth:`~deliverability_econ.funnel.FunnelConfig.with_parameters`. Only ``basis="inbox"``
    rows are used: a conversion given a read is not the conversion given inbox placement that
    the leakage model needs.
    """
    out: dict[str, tuple[float, float, float]] = {}
    for row in estimates.itertuples(index=False):
        if row.basis != "inbox":
            continue
        for which in ("seen", "unseen"):
            value = getattr(row, f"conversion_if_{which}")
            low = getattr(row, f"conversion_if_{which}_low")
            high = getattr(row, f"conversion_if_{which}_high")
            if np.isfinite([value, low, high]).all():
                low, high = min(low, value), max(high, value)
                out[getattr(row, f"key_if_{which}")] = (float(value), float(low), float(high))
    return out


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _parse_times(text: pd.Series, timezone: str) -> pd.Series:
    numeric = pd.to_numeric(text, errors="coerce")
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    is_number = numeric.notna() & text.str.fullmatch(r"-?\d+(\.\d+)?")
    if is_number.any():
        seconds = numeric[is_number].to_numpy(float)
        seconds = np.where(np.abs(seconds) > 1e11, seconds / 1000.0, seconds)
        out[is_number] = pd.to_datetime(seconds, unit="s", utc=True)
    rest = ~is_number & (text != "")
    for position in np.flatnonzero(rest.to_numpy()):
        try:
            stamp = pd.Timestamp(text.iat[position])
        except (ValueError, TypeError):
            continue
        if stamp is pd.NaT:
            continue
        stamp = stamp.tz_localize(timezone) if stamp.tzinfo is None else stamp
        out.iat[position] = stamp.tz_convert("UTC")
    return out


def _with_folder(attributed: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    keys = [k for k in ("message_id", "recipient") if k in truth.columns]
    if "message_id" not in keys:
        raise ValueError("per-message folders need a message_id column")
    right = truth[keys + ["folder"]].copy()
    for key in keys:
        right[key] = right[key].astype("string")
    left = attributed.copy()
    for key in keys:
        left[key] = left[key].astype("string")
    merged = left.merge(right.drop_duplicates(keys), on=keys, how="left")
    if merged["folder"].isna().any():
        raise ValueError(f"{int(merged['folder'].isna().sum())} messages have no folder in the "
                         "per-message table (are the recipients pseudonymized alike?)")
    return merged


def _single_funnel_config(config: FunnelConfig, name: str) -> FunnelConfig:
    from dataclasses import replace

    return replace(config, funnels={name: config.funnels[name]})


def _jeffreys(rng: np.random.Generator, successes: int, trials: int, draws: int) -> np.ndarray:
    """Draws from the Jeffreys posterior Beta(k + 1/2, n - k + 1/2) of a binomial rate."""
    return rng.beta(successes + 0.5, trials - successes + 0.5, size=draws)


def _percentile(values: np.ndarray, q: float) -> float:
    values = values[np.isfinite(values)]
    return float(np.percentile(values, q)) if len(values) else np.nan
