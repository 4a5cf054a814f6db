"""Vectorized ids and string columns (numpy hashing, Arrow strings), so that millions of rows
cost no Python loop."""

from __future__ import annotations

import binascii

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_URLSAFE = bytes.maketrans(b"+/", b"-_")
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer: a bijective, well-mixed hash of 64-bit integers."""
    z = np.asarray(values).astype(np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def hash_pair(key: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of ``values`` under ``key``."""
    base = mix64(np.asarray(values).astype(np.uint64) ^ mix64(np.array([key], np.uint64)))
    return base, mix64(base ^ np.uint64(0xD1B54A32D192ED03))


def _fixed_width(data: bytes, n: int, width: int) -> pa.Array:
    """``n`` ASCII strings of ``width`` characters, back to back in ``data``, as Arrow strings."""
    offsets = np.arange(n + 1, dtype=np.int64) * width
    if n * width < 2**31:
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets.astype(np.int32)),
                                                      pa.py_buffer(data)])
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def base64url_ids(key: int, values: np.ndarray, length: int = 22) -> pa.Array:
    """Deterministic base64url ids (like SendGrid's ``sg_event_id``) of integer ``values``.

    Each id is the unpadded base64url text of a 128-bit hash of the value (22 characters), or
    its first ``length`` characters.

    Parameters
    ----------
    key : int
        Run key (drawn from the simulation's generator).
    values : int array
        Distinct integers, one per id.
    length : int
        Characters, at most 22.
    """
    hi, lo = hash_pair(key, values)
    n = len(hi)
    raw = np.zeros((n, 18), np.uint8)  # 16 hash bytes + 2 zero bytes: 24 aligned characters
    raw[:, :16] = np.stack([hi, lo], axis=1).view(np.uint8).reshape(n, 16)
    encoded = binascii.b2a_base64(raw.tobytes(), newline=False).translate(_URLSAFE)
    text = np.frombuffer(encoded, np.uint8).reshape(n, 24)
    return _fixed_width(np.ascontiguousarray(text[:, :length]).tobytes(), n, length)


def random_ids(rng: np.random.Generator, n: int, nbytes: int = 15) -> pa.Array:
    """``n`` random base64url ids of ``nbytes`` bytes each (15 bytes: 20 characters, 120 bits),
    drawn from ``rng`` (deterministic for a seeded generator)."""
    if nbytes % 3:
        raise ValueError("nbytes must be a multiple of 3 (whole base64 groups)")
    encoded = binascii.b2a_base64(rng.bytes(n * nbytes), newline=False).translate(_URLSAFE)
    return _fixed_width(encoded, n, nbytes // 3 * 4)


def hex_ids(key: int, values: np.ndarray, length: int = 16) -> pa.Array:
    """Deterministic lower-case hex ids of integer ``values`` (at most 32 characters)."""
    hi, lo = hash_pair(key, values)
    n = len(hi)
    raw = np.stack([hi, lo], axis=1).view(np.uint8).reshape(n, 16)
    text = np.frombuffer(raw.tobytes().hex().encode("ascii"), np.uint8).reshape(n, 32)
    return _fixed_width(np.ascontiguousarray(text[:, :length]).tobytes(), n, length)


def take(values: list[str] | pa.Array, indices: np.ndarray) -> pa.Array:
    """``values[indices]`` as Arrow strings; a negative index gives a null."""
    array = values if isinstance(values, pa.Array) else pa.array(list(values), type=pa.string())
    indices = np.asarray(indices)
    if len(indices) and indices.min() < 0:
        # A trailing null to point at is much faster than a masked index array.
        array = pa.concat_arrays([array.cast(pa.string()), pa.nulls(1, pa.string())])
        indices = np.where(indices < 0, len(array) - 1, indices)
    return pc.take(array, pa.array(indices.astype(np.int64, copy=False)))


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of Arrow string arrays and constants."""
    return pc.binary_join_element_wise(*parts, "")


def to_string_series(values: pa.Array | pa.ChunkedArray, index: pd.Index | None = None) -> pd.Series:
    """An Arrow string array as a pandas Series of the kit's ``string`` dtype."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if values.type == pa.large_string():
        values = values.cast(pa.string()) if len(values) < 2**26 else values
    dtype = pd.StringDtype()
    if dtype.storage == "pyarrow":
        array = pd.arrays.ArrowStringArray(values)
    else:
        array = pd.array(values.to_pylist(), dtype=dtype)
    return pd.Series(array, index=index, copy=False)


def utc_timestamps(start_ns: int, seconds: np.ndarray) -> pd.DatetimeIndex:
    """Times [s since start] as a timezone-aware UTC index, rounded to the millisecond; NaN
    gives NaT."""
    seconds = np.asarray(seconds, dtype=float)
    missing = ~np.isfinite(seconds)
    ns = start_ns + np.round(np.where(missing, 0.0, seconds) * 1e3).astype(np.int64) * 1_000_000
    ns[missing] = np.iinfo(np.int64).min  # NaT
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
