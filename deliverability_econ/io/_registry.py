"""Format registry, content-based detection and the generic read driver."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._base import (
    FormatSpec,
    InputFormatError,
    ReadOptions,
    ReadStats,
    Source,
    build_meta,
    concat_events,
    deduplicate,
    expand_sources,
    normalize_chunks,
    read_head,
    report_stream_damage,
)

#: name -> FormatSpec, filled by each format module at import.
FORMATS: dict[str, FormatSpec] = {}


def register(spec: FormatSpec) -> FormatSpec:
    FORMATS[spec.name] = spec
    return spec


def detect_format(head: str) -> str | None:
    """Name of the first registered format (by priority) whose sniffer accepts ``head``."""
    for spec in sorted(FORMATS.values(), key=lambda s: s.priority):
        try:
            if spec.sniff(head):
                return spec.name
        except Exception:  # a sniffer must never break detection of the others
            continue
    return None


def _resolve_spec(source: Source, format_name: str, options: ReadOptions, stats: ReadStats,
                  strict: bool, configured: bool = False) -> FormatSpec | None:
    head = read_head(source, encoding=options.encoding)
    if not head.strip():
        stats.warnings.append(f"{source.name}: empty file, no records")
        return None
    detected = detect_format(head)
    if format_name == "auto":
        if detected is None:
            raise InputFormatError(
                source.name, None, None,
                "cannot tell the format from the content; known formats: "
                + ", ".join(sorted(FORMATS)) + ". Pass format=... (or read_csv with a mapping).",
            )
        return FORMATS[detected]
    if format_name not in FORMATS:
        raise ValueError(f"unknown format {format_name!r}; known: {', '.join(sorted(FORMATS))}")
    spec = FORMATS[format_name]
    if strict and detected is not None and detected != spec.name and not spec.sniff(head):
        raise InputFormatError(
            source.name, None, None,
            f"this looks like a {FORMATS[detected].label} file, not {spec.label}; "
            f"use read_{detected} or read_events(..., format='auto')",
        )
    # A configured reader (a CSV with a column mapping) is expected not to sniff as canonical.
    if detected is None and not configured and not spec.sniff(head):
        stats.warnings.append(f"{source.name}: content does not look like {spec.label}")
    return spec


def iter_read(paths: Any, format_name: str, options: ReadOptions, stats: ReadStats,
              format_options: Mapping[str, Mapping] | None = None, per_source: list | None = None):
    """Yield ``(format_name, chunk)`` for every source; the chunks are not de-duplicated."""
    format_options = format_options or {}
    for source in expand_sources(paths):
        source_stats = ReadStats()
        spec = _resolve_spec(source, format_name, options, source_stats, strict=True,
                             configured=bool(format_name != "auto" and format_options.get(format_name)))
        if spec is not None:
            for chunk in source_chunks(spec, source, options, source_stats, format_options):
                yield spec.name, chunk
        if per_source is not None:
            per_source.append((source.name, spec.name if spec else None, source_stats))
        stats.merge(source_stats)


def source_chunks(spec: FormatSpec, source: Source, options: ReadOptions, stats: ReadStats,
                  format_options: Mapping[str, Mapping] | None = None, *, arrow: bool = False):
    """Canonical event chunks of one source read with ``spec`` and its ``format_options``.

    With ``arrow=True`` (ingest, read_messages) a format's own chunk reader that can hand its
    fast blocks over as Arrow tables of the dataset schema does so (the SendGrid fast path);
    other chunks are DataFrames. Either holds the same events.
    """
    configured = (format_options or {}).get(spec.name)
    if arrow and spec.chunk_reader is not None and not configured:
        yield from spec.chunk_reader(spec, source, options, stats, arrow=True)
    else:
        normalize = functools.partial(spec.normalize, **configured) if configured else spec.normalize
        yield from normalize_chunks(spec, source, options, stats, normalize)
    report_stream_damage(source, options, stats)


def read(paths: Any, format_name: str = "auto", *, errors: str = "quarantine",
         pseudonymize: bool = True, salt: str | bytes | None = None,
         mx_map: Mapping[str, str] | None = None, encoding: str | None = None,
         format_options: Mapping[str, Mapping] | None = None, now: float | None = None,
         ) -> tuple[pd.DataFrame, dict]:
    """Read sources into one de-duplicated events table and its reconciliation ``meta``."""
    options = ReadOptions(errors=errors, pseudonymize=pseudonymize, salt=salt, mx_map=mx_map,
                          encoding=encoding, now=now)
    stats = ReadStats()
    per_source: list = []
    formats_seen: list[str] = []
    chunks = []
    for name, chunk in iter_read(paths, format_name, options, stats, format_options, per_source):
        if name not in formats_seen:
            formats_seen.append(name)
        chunks.append(chunk)
    events = concat_events(chunks)
    events = deduplicate(events, stats)
    if len(events):
        # pyarrow's sort on the two keys gives the same order as sort_values, 3x faster.
        keys = pa.table({"timestamp": pa.array(events["timestamp"].array),
                         "event_id": pa.array(events["event_id"].array)})
        order = pc.sort_indices(keys, sort_keys=[("timestamp", "ascending"), ("event_id", "ascending")])
        events = events.take(order.to_numpy()).reset_index(drop=True)
    return events, build_read_meta(format_name, formats_seen, per_source, stats)


def build_read_meta(format_name: str, formats_seen: list[str], per_source: list,
                    stats: ReadStats) -> dict:
    """The ``meta`` of :func:`read` (and :func:`._read_messages.read_messages`): the forced
    format, else the one format detected, else the list of them; and one row per source."""
    fmt: str | list[str]
    if format_name != "auto":
        fmt = format_name
    else:
        fmt = formats_seen[0] if len(formats_seen) == 1 else formats_seen
    return build_meta(
        fmt,
        [name for name, _, _ in per_source],
        stats,
        by_source=pd.DataFrame(
            [
                {
                    "source": name,
                    "format": fmt_name,
                    "records_read": s.records_read,
                    "quarantined": s.quarantined,
                    "ignored": sum(s.ignored.values()),
                }
                for name, fmt_name, s in per_source
            ],
            columns=["source", "format", "records_read", "quarantined", "ignored"],
        ),
    )


def make_reader(name: str, doc: str):
    """Build the public ``read_<name>`` function of a format module."""

    def reader(path_or_buffer: Any, *, errors: str = "quarantine", pseudonymize: bool = True,
               salt: str | bytes | None = None, mx_map: Mapping[str, str] | None = None,
               encoding: str | None = None, now: float | None = None, **options: Any,
               ) -> tuple[pd.DataFrame, dict]:
        return read(path_or_buffer, name, errors=errors, pseudonymize=pseudonymize, salt=salt,
                    mx_map=mx_map, encoding=encoding, now=now,
                    format_options={name: options} if options else None)

    reader.__name__ = f"read_{name}"
    reader.__qualname__ = reader.__name__
    reader.__doc__ = doc + _COMMON_PARAMETERS
    return reader


_COMMON_PARAMETERS = """
    Common parameters
    -----------------
    path_or_buffer : path, glob, directory, list of them, or file-like
        ``.gz``, ``.bz2`` and ``.zip`` inputs are read as streams.
    errors : {"quarantine", "raise"}
        ``"quarantine"`` (default) keeps each rejected record in ``meta["quarantine"]`` with its
        source, location, field and reason; ``"raise"`` raises
        :class:`~deliverability_econ.io.InputFormatError` at the first one.
    pseudonymize : bool
        Replace recipients by a keyed hash (default). ``False`` keeps clear addresses.
    salt : str or bytes, optional
        The pseudonymization key; else ``DELIVERABILITY_ECON_SALT``; else the installation key.
    mx_map : mapping, optional
        ``{domain: mailbox_provider}`` for business domains (see ``providers.read_mx_map``).
    encoding : str, optional
        Text encoding; default UTF-8 (a UTF-16 byte-order mark is honoured).
    now : float, optional
        Reading time [epoch s] for the future-timestamp check; default the clock.

    Returns
    -------
    events : DataFrame
        Canonical events (``schema.EVENT_COLUMNS``), de-duplicated by ``event_id``, sorted by time.
    meta : dict
        ``format``, ``sources``, ``records_read``, ``events``, ``duplicates``, ``quarantined``,
        ``ignored`` (count by reason), ``quarantine`` (DataFrame), ``time_min``, ``time_max``,
        ``warnings``, ``by_source``; ``records_read == events + duplicates + quarantined +
        sum(ignored.values())``. A record that names several recipients counts once per recipient.
"""
