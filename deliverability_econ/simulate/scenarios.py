"""Named scenarios: a registry of sender configurations that notebooks, tests and benchmarks
share.

Each entry builds a :class:`~.config.SenderConfig` for a simulation of ``days`` days; scripted
incidents start a third of the way in, so that there is a clean reference period before them.

>>> sorted(SCENARIOS)  # doctest: +NORMALIZE_WHITESPACE
['baseline', 'cold_cutover', 'complaint_spike', 'high_apple', 'list_hygiene_failure',
 'neighbour_incident', 'volume_spike', 'warmup']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .config import (
    IP,
    SHARED_POOL_IPS,
    Audience,
    Incident,
    Infrastructure,
    Migration,
    SenderConfig,
)

#: A dedicated IP (documentation range, RFC 5737).
DEDICATED_IP = "203.0.113.10"


@dataclass(frozen=True)
class Scenario:
    """A named scenario.

    Parameters
    ----------
    name : str
    description : str
        What happens, and what the truth tables should show.
    build : callable
        ``build(days) -> SenderConfig``.
    """

    name: str
    description: str
    build: Callable[[int], SenderConfig]


def incident_day(days: int) -> int:
    """Day on which a scenario's incident starts: a third of the way in [days from start]."""
    return max(1, days // 3)


def _baseline(days: int) -> SenderConfig:
    return SenderConfig()


def _with_new_dedicated_ip(days: int, schedule: str) -> SenderConfig:
    ips = (*SHARED_POOL_IPS, IP(DEDICATED_IP, "dedicated", shared=False, warm=False))
    migration = Migration("dedicated", start_day=incident_day(days), schedule=schedule, ramp_days=30)
    return SenderConfig(infrastructure=Infrastructure(ips=ips, default_pool="shared",
                                                      migrations=(migration,)))


def _warmup(days: int) -> SenderConfig:
    return _with_new_dedicated_ip(days, "geometric")


def _cold_cutover(days: int) -> SenderConfig:
    return _with_new_dedicated_ip(days, "cold")


def _neighbour(days: int) -> SenderConfig:
    incident = Incident("neighbour", incident_day(days), duration_days=10, magnitude=25.0,
                        providers=("gmail", "microsoft", "yahoo", "att"), pool="shared")
    return SenderConfig(incidents=(incident,))


def _complaint_spike(days: int) -> SenderConfig:
    incident = Incident("complaint_spike", incident_day(days), duration_days=14, magnitude=12.0,
                        streams=("newsletter",))
    return SenderConfig(incidents=(incident,))


def _list_hygiene(days: int) -> SenderConfig:
    return SenderConfig(incidents=(Incident("list_hygiene_failure", incident_day(days), magnitude=0.3),))


def _volume_spike(days: int) -> SenderConfig:
    infrastructure = Infrastructure(ips=(IP(DEDICATED_IP, "dedicated", shared=False, warm=True),),
                                    default_pool="dedicated")
    incident = Incident("volume_spike", incident_day(days), duration_days=1, magnitude=6.0)
    return SenderConfig(infrastructure=infrastructure, incidents=(incident,))


def _high_apple(days: int) -> SenderConfig:
    return SenderConfig(audience=Audience(apple_mail_share=0.60))


#: The scenario registry.
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("baseline", "Healthy sender on a shared pool of four IPs; no incident.", _baseline),
        Scenario(
            "warmup",
            "From a third of the way in, all streams move to a new dedicated IP over a 30-day "
            "geometric ramp from 200 messages/day (F25 day 1), engaged recipients first, the "
            "excess overflowing to the shared pool (F26, F27). The new IP's placement starts in "
            "the fair band and recovers without overload.",
            _warmup,
        ),
        Scenario(
            "cold_cutover",
            "From a third of the way in, everything moves at once to a new dedicated IP with no "
            "warm-up: volume above the providers' cold caps is deferred (Microsoft 4.7.650, "
            "Yahoo TSS04) or bulked (Gmail), and the IP's reputation sinks; inbox placement on "
            "the new IP stays below 60% at Gmail and Microsoft for weeks (section 9: 2-6 weeks).",
            _cold_cutover,
        ),
        Scenario(
            "neighbour_incident",
            "Another sender on the shared pool ruins it for 10 days from a third of the way in: "
            "the pool's score drops by 25 points at Gmail, Microsoft, Yahoo and AT&T.",
            _neighbour,
        ),
        Scenario(
            "complaint_spike",
            "The newsletter draws 12 times the usual complaints for 14 days from a third of the "
            "way in (Postmaster's spam rate well above F2's 0.3% ceiling); the domain's "
            "reputation and placement fall in the following weeks, then recover.",
            _complaint_spike,
        ),
        Scenario(
            "list_hygiene_failure",
            "From a third of the way in, an old, unmailed segment (30% of the audience; 30% "
            "invalid, some recycled spam traps) joins the newsletter: a hard-bounce burst above "
            "the SES review threshold (F10), then the bounced addresses are dropped.",
            _list_hygiene,
        ),
        Scenario(
            "volume_spike",
            "A warm dedicated IP; a third of the way in, a flash sale sends the newsletter six "
            "times in one day (twice the providers' headroom): volume above their caps is "
            "deferred (Microsoft 4.7.650, Yahoo TSS04) or bulked (Gmail), and placement dips "
            "for the following two weeks.",
            _volume_spike,
        ),
        Scenario(
            "high_apple",
            "The baseline with 60% of recipients reading in Apple Mail with MPP (F32: up to 60% "
            "of opens may be artificial).",
            _high_apple,
        ),
    )
}


def scenario_config(name: str, days: int = 90) -> SenderConfig:
    """The configuration of the named scenario for a ``days``-long simulation.

    Raises
    ------
    KeyError
        For an unknown name, listing the known ones.
    """
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}") from None
    return scenario.build(days)
