"""One way to turn a ``random_state`` argument into a generator.

Every stochastic function in the kit takes a single ``random_state`` argument and passes it
through :func:`check_random_state`, so a seed given once reproduces every draw (STYLE.md,
"QuantEcon").
"""

from __future__ import annotations

import numbers

import numpy as np

RandomState = None | int | np.integer | np.random.Generator | np.random.SeedSequence


def check_random_state(random_state: RandomState = None) -> np.random.Generator:
    """Normalize a ``random_state`` argument to a :class:`numpy.random.Generator`.

    Parameters
    ----------
    random_state : None, int, numpy.random.SeedSequence or numpy.random.Generator
        ``None`` gives fresh entropy from the operating system (results differ per call); an
        integer or a ``SeedSequence`` seeds a new PCG64 generator (same seed, same draws); a
        ``Generator`` is returned as is, so the caller's stream advances.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    TypeError
        For anything else, including the legacy ``numpy.random.RandomState`` (whose streams
        differ from ``Generator``'s, so accepting it would silently change results).
    ValueError
        For a negative integer seed.

    Examples
    --------
    >>> a = check_random_state(42).integers(0, 1_000_000, 3)
    >>> b = check_random_state(42).integers(0, 1_000_000, 3)
    >>> bool((a == b).all())
    True
    >>> generator = np.random.default_rng(1)
    >>> check_random_state(generator) is generator
    True
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if int(random_state) < 0:
            raise ValueError(f"random_state must be a non-negative integer, not {random_state}")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be None, a non-negative int, a numpy SeedSequence or a numpy "
        f"Generator, not {type(random_state).__name__}"
    )
