"""Readers: every supported source format into the canonical events table.

Each format has a module with ``read_<format>(path_or_buffer, ...) -> (events, meta)``;
:func:`read_events` reads several files or globs and detects each file's format from its
content. See :mod:`deliverability_econ.io._base` for the shared machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from . import brevo, csv, mailgun, mandrill, postfix, postmark, sendgrid, ses, sparkpost  # noqa: F401  (each import registers its format)
from ._base import InputFormatError, RecordError, check_reconciliation
from ._calibration import check_table_reconciliation
from ._read_messages import read_messages
from ._registry import FORMATS, detect_format, read
from .brevo import read_brevo
from .csv import read_csv
from .dmarc import read_dmarc_aggregate
from .ingest import ingest, read_dataset
from .mailgun import read_mailgun
from .mandrill import read_mandrill
from .postfix import read_postfix
from .postmark import read_postmark
from .postmaster import read_postmaster
from .seedtests import read_seed_tests
from .sendgrid import read_sendgrid
from .ses import read_ses
from .snds import read_snds
from .sparkpost import read_sparkpost

__all__ = [
    "FORMATS",
    "InputFormatError",
    "RecordError",
    "check_reconciliation",
    "check_table_reconciliation",
    "detect_format",
    "ingest",
    "read_dataset",
    "read_messages",
    "read_events",
    "read_brevo",
    "read_csv",
    "read_dmarc_aggregate",
    "read_mailgun",
    "read_mandrill",
    "read_postfix",
    "read_postmark",
    "read_postmaster",
    "read_seed_tests",
    "read_sendgrid",
    "read_snds",
    "read_ses",
    "read_sparkpost",
]


def read_events(
    paths: Any,
    format: str = "auto",
    *,
    errors: str = "quarantine",
    pseudonymize: bool = True,
    salt: str | bytes | None = None,
    mx_map: Mapping[str, str] | None = None,
    encoding: str | None = None,
    format_options: Mapping[str, Mapping] | None = None,
    now: float | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Read ESP exports and MTA logs into one canonical events table.

    Parameters
    ----------
    paths : path, glob, directory, file-like, or a list of them
        Inputs; ``.gz``, ``.bz2`` and ``.zip`` are read as streams (a stream cut short is read
        up to the cut, the damage quarantined as one record), directories recursively.
    format : str
        ``"auto"`` (default) detects each file's format from its content, not its name; or one
        of ``FORMATS`` to force it for every file.
    errors : {"quarantine", "raise"}
        What to do with a bad record (see :class:`InputFormatError`).
    pseudonymize : bool
        Replace recipient addresses by a keyed hash (default True).
    salt : str or bytes, optional
        Pseudonymization key; else ``$DELIVERABILITY_ECON_SALT``; else the installation key file.
    mx_map : mapping, optional
        ``{domain: mailbox_provider}`` for business domains.
    encoding : str, optional
        Text encoding when not UTF-8.
    format_options : mapping, optional
        Per-format options, e.g. ``{"postfix": {"year": 2025}}`` or ``{"csv": {"mapping": {...}}}``.
    now : float, optional
        Reading time [epoch s] for the future-timestamp check.

    Returns
    -------
    events : DataFrame
        Canonical events, de-duplicated across all inputs by ``event_id``.
    meta : dict
        Reconciliation of every record read (see ``DESIGN.md``); ``by_source`` has one row per
        file with its detected format.

    Examples
    --------
    >>> events, meta = read_events(["exports/*.json", "maillog.gz"])  # doctest: +SKIP
    >>> meta["records_read"] == meta["events"] + meta["duplicates"] + meta["quarantined"] \\
    ...     + sum(meta["ignored"].values())  # doctest: +SKIP
    True
    """
    return read(paths, format, errors=errors, pseudonymize=pseudonymize, salt=salt,
                mx_map=mx_map, encoding=encoding, format_options=format_options, now=now)
