"""deliverability_econ: the economics of email deliverability, from the logs a sender already has."""

from __future__ import annotations

from . import schema
from .cube import daily_cube
from .io import InputFormatError, read_events
from .messages import messages
from .schema import validate_events

__version__ = "0.1.0"

__all__ = [
    "InputFormatError",
    "daily_cube",
    "messages",
    "read_events",
    "schema",
    "validate_events",
    "__version__",
]
