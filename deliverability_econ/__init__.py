"""deliverability_econ: the economics of email deliverability, from the logs a sender already has."""

from __future__ import annotations

from . import schema
from .io import InputFormatError, read_events
from .schema import validate_events

__version__ = "0.1.0"

__all__ = ["InputFormatError", "read_events", "schema", "validate_events", "__version__"]
