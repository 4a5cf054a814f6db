"""Synthetic senders with known ground truth.

:func:`sender` simulates a sender's audience, streams and infrastructure over a period and
returns the logs a real sender would have (canonical events with the wire details format
writers need, seed-list tests, Google Postmaster and Microsoft SNDS tables) next to the truth
behind them (each message's true folder and conversion, daily true placement per provider x IP
x stream, the reputation process). Estimators are validated against that truth.

Modules: :mod:`.config` (dataclasses and documented defaults), :mod:`.schedule` (audience,
messages, routing), :mod:`.reputation` (the true placement process), :mod:`.engine`
(per-message outcomes), :mod:`.events`, :mod:`.calibration`, :mod:`.smtp` (replies),
:mod:`.scenarios` (the registry), :mod:`.core` (the orchestrator) and :mod:`.writers` (the
logs in every supported format's wire shape, calibration files and truth tables on disk;
:func:`simulate_to_directory` does it all at once).
"""

from __future__ import annotations

from .calibration import reputation_band, snds_filter_result, wilson_interval
from .config import (
    DEFAULT_STREAMS,
    INCIDENT_KINDS,
    IP,
    PROVIDER_PROFILES,
    SENDGRID_WARMUP,
    SHARED_POOL_IPS,
    SPARKPOST_WARMUP,
    TRIGGERS,
    Audience,
    Incident,
    Infrastructure,
    Migration,
    ProviderProfile,
    ReputationModel,
    SeedList,
    SenderConfig,
    Stream,
)
from .core import SimulationResult, SimulationWarning, sender
from .engine import FOLDERS, OUTCOMES
from .events import DETAIL_COLUMNS
from .reputation import (
    block_probability,
    bounce_penalty,
    complaint_penalty,
    placement_from_score,
    score_for_placement,
)
from .scenarios import SCENARIOS, Scenario, scenario_config
from .smtp import REPLIES, Reply
from .writers import (
    FIDELITY,
    SimulationFiles,
    expected_events,
    simulate_to_directory,
    wire_message_ids,
    write_calibration,
    write_logs,
    write_postmaster,
    write_seed_tests,
    write_snds,
    write_truth,
)

__all__ = [
    "DEFAULT_STREAMS", "DETAIL_COLUMNS", "FIDELITY", "FOLDERS", "INCIDENT_KINDS", "IP", "OUTCOMES",
    "PROVIDER_PROFILES", "REPLIES", "SCENARIOS", "SENDGRID_WARMUP", "SHARED_POOL_IPS",
    "SPARKPOST_WARMUP", "TRIGGERS", "Audience", "Incident", "Infrastructure", "Migration",
    "ProviderProfile", "Reply", "ReputationModel", "Scenario", "SeedList", "SenderConfig",
    "SimulationFiles", "SimulationResult", "SimulationWarning", "Stream", "block_probability", "bounce_penalty",
    "complaint_penalty", "placement_from_score", "reputation_band", "scenario_config", "sender",
    "simulate_to_directory", "snds_filter_result", "score_for_placement", "wilson_interval",
    "expected_events", "wire_message_ids", "write_calibration", "write_logs", "write_postmaster",
    "write_seed_tests", "write_snds", "write_truth",
]
