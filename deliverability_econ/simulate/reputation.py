"""The true placement process: a latent reputation per provider x IP and its link to placement.

For every day, mailbox provider ``p`` and sending IP ``i`` the simulator keeps a latent score on
a Sender-Score-like 0-100 scale::

    score[p, i] = ip_score[p, i] + domain_deviation[p]

``ip_score`` follows an AR(1) process toward a target:

- a **shared** IP's target is the pool's healthy level minus neighbour shocks (random, and
  scripted ``neighbour`` incidents): the sender does not own it;
- a **dedicated** IP's target is the provider's healthy score minus a cold-IP deficit that
  shrinks as the IP matures, minus the sender's own complaint and bounce penalties (the IP
  share of them), minus a penalty for the share of the last week's volume that was above the
  provider's acceptance cap.

``domain_deviation`` (<= 0 on average) follows the sender's own complaint and bounce penalties,
weighted by how much the provider looks at the domain (Gmail most, F28). The acceptance cap of a
dedicated IP grows while the IP uses it with well-received volume (up to ``1 + cap_growth``
per day), is bounded by a multiple of the busiest day of the last month, and falls back to the
cold cap after a month without mail.

Placement of accepted mail is a logistic link of the score fitted to F19; reputation blocks
(5xx) rise only in F19's "small fraction" band; volume above the cap is deferred or bulked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ReputationModel


def placement_from_score(score, model: ReputationModel | None = None):
    """Inbox share of accepted mail at a reputation score (the F19 link).

    ``inbox_share = ceiling / (1 + exp(-(score - midpoint) / scale))``

    Parameters
    ----------
    score : float or array
        Latent reputation [score points, 0-100].
    model : ReputationModel, optional
        Link parameters; the F19 fit by default.

    Returns
    -------
    float or array
        Inbox share [fraction 0-1].

    Examples
    --------
    F19 (Return Path 2017/2018): senders scoring 91-100 placed about 92% in the inbox, 81-90
    about 70%, 71-80 about 44%:

    >>> [round(float(placement_from_score(s)), 2) for s in (95.5, 85.5, 75.5)]
    [0.89, 0.72, 0.43]
    """
    model = model or ReputationModel()
    score = np.asarray(score, dtype=float)
    return model.link_ceiling / (1.0 + np.exp(-(score - model.link_midpoint) / model.link_scale))


def score_for_placement(inbox_share, model: ReputationModel | None = None):
    """The score whose F19 link gives ``inbox_share`` (inverse of :func:`placement_from_score`).

    Parameters
    ----------
    inbox_share : float or array
        [fraction, strictly between 0 and ``model.link_ceiling``]

    Returns
    -------
    float or array
        [score points]

    Examples
    --------
    >>> round(float(score_for_placement(0.90)), 1)   # Gmail's section 9 default
    96.4
    """
    model = model or ReputationModel()
    share = np.asarray(inbox_share, dtype=float)
    if np.any((share <= 0) | (share >= model.link_ceiling)):
        raise ValueError(f"inbox_share must be in (0, {model.link_ceiling})")
    return model.link_midpoint - model.link_scale * np.log(model.link_ceiling / share - 1.0)


def block_probability(score, block_ceiling, model: ReputationModel | None = None):
    """Share of mail refused outright (5xx) for reputation at ``score``.

    ``block = floor + ceiling_provider / (1 + exp((score - midpoint) / scale))``

    Parameters
    ----------
    score : float or array
        [score points]
    block_ceiling : float or array
        The provider's share blocked at a hopeless score [fraction 0-1].
    model : ReputationModel, optional

    Returns
    -------
    float or array
        [fraction 0-1]
    """
    model = model or ReputationModel()
    score = np.asarray(score, dtype=float)
    tail = 1.0 / (1.0 + np.exp((score - model.block_midpoint) / model.block_scale))
    return np.minimum(1.0, model.block_floor + np.asarray(block_ceiling) * tail)


def complaint_penalty(complaint_rate, model: ReputationModel | None = None):
    """Target-score drop for a complaint rate per inbox-placed message.

    ``penalty = min(cap, complaint_penalty * max(0, rate - threshold) / 0.001)``; with the
    defaults F2's 0.30% ceiling costs 16 points, more than one F19 band.

    Parameters
    ----------
    complaint_rate : float or array
        Complaints per inbox-placed message [fraction 0-1] (F4, F14 denominator).

    Returns
    -------
    float or array
        [score points]
    """
    model = model or ReputationModel()
    excess = np.maximum(0.0, np.asarray(complaint_rate, dtype=float) - model.complaint_threshold)
    return np.minimum(model.complaint_penalty_cap, model.complaint_penalty * excess / 0.001)


def bounce_penalty(hard_bounce_rate, model: ReputationModel | None = None):
    """Target-score drop for a hard-bounce rate per attempted message.

    ``penalty = min(cap, bounce_penalty * max(0, rate - threshold) / 0.01)``

    Parameters
    ----------
    hard_bounce_rate : float or array
        [fraction 0-1]

    Returns
    -------
    float or array
        [score points]
    """
    model = model or ReputationModel()
    excess = np.maximum(0.0, np.asarray(hard_bounce_rate, dtype=float) - model.bounce_threshold)
    return np.minimum(model.bounce_penalty_cap, model.bounce_penalty * excess / 0.01)


@dataclass
class ReputationProcess:
    """State of the reputation process over providers x IPs; :meth:`step` advances one day.

    Arrays have shape ``(providers, ips)`` unless noted. This is the simulator's internal
    bookkeeping; its daily values are reported in ``SimulationResult.reputation``.

    Parameters
    ----------
    model : ReputationModel
    healthy_score : array (providers,)
        Score of a healthy, warm dedicated IP at each provider [score points].
    block_ceiling, cold_cap, maturity_days, domain_weight : arrays (providers,)
        From the provider profiles.
    shared : array of bool (ips,)
        Whether each IP is in a shared pool.
    warm : array of bool (ips,)
        Whether each dedicated IP starts with history.
    initial_history : array (days, providers, ips)
        Daily volume before the start [messages/day]: warm dedicated IPs have been sending
        like this (their cap starts at ``cap_headroom`` times its busiest day); zero for cold
        IPs.
    """

    model: ReputationModel
    healthy_score: np.ndarray
    block_ceiling: np.ndarray
    cold_cap: np.ndarray
    maturity_days: np.ndarray
    domain_weight: np.ndarray
    shared: np.ndarray
    warm: np.ndarray
    initial_history: np.ndarray

    def __post_init__(self) -> None:
        m = self.model
        n_providers, n_ips = len(self.healthy_score), len(self.shared)
        shape = (n_providers, n_ips)
        healthy = np.broadcast_to(self.healthy_score[:, None], shape)
        self.shared_level = healthy - m.shared_discount
        self.maturity = np.where(self.shared[None, :] | self.warm[None, :], 1.0, 0.0) * np.ones(shape)
        self.ip_score = np.where(
            self.shared[None, :], self.shared_level, healthy - m.cold_gap * (1.0 - self.maturity)
        )
        self.domain_deviation = np.zeros(n_providers)
        cold = np.broadcast_to(self.cold_cap[:, None], shape)
        history = np.asarray(self.initial_history, dtype=float)[-m.cap_window_days:]
        self.volume_history: list[np.ndarray] = list(history)
        initial_cap = m.cap_headroom * (history.max(axis=0) if len(history) else np.zeros(shape))
        self.cap = np.where(self.warm[None, :], np.maximum(initial_cap, cold), cold).astype(float)
        self.cap[:, self.shared] = np.inf
        self.overload_recent = np.zeros(shape)
        self.excess_history: list[np.ndarray] = []
        self.shock = np.zeros(shape)
        # Smoothed signal counts, seeded at the thresholds (a clean history).
        prior = m.prior_messages
        self.inbox_smoothed = np.full(shape, prior)
        self.complaints_smoothed = np.full(shape, prior * m.complaint_threshold)
        self.attempts_smoothed = np.full(shape, prior)
        self.hard_smoothed = np.full(shape, prior * m.bounce_threshold * 0.25)

    # -- the day's process values ------------------------------------------------------------

    def score(self) -> np.ndarray:
        """Latent score today [score points, clipped to 0-100]."""
        return np.clip(self.ip_score + self.domain_deviation[:, None], 0.0, 100.0)

    def overflow_share(self, volume: np.ndarray) -> np.ndarray:
        """Share of today's ``volume`` above the acceptance cap [fraction 0-1]."""
        with np.errstate(divide="ignore", invalid="ignore"):
            excess = np.where(volume > 0, np.maximum(0.0, volume - self.cap) / volume, 0.0)
        return np.nan_to_num(excess)

    # -- the update -------------------------------------------------------------------------

    def step(
        self,
        volume: np.ndarray,
        inbox: np.ndarray,
        complaints: np.ndarray,
        hard_bounces: np.ndarray,
        overflow: np.ndarray,
        target_drop: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        """Advance one day from the day's realized signals.

        Parameters
        ----------
        volume : array
            Messages attempted (not dropped) [messages].
        inbox : array
            Messages placed in the inbox [messages].
        complaints : array
            Spam reports on those (every provider, reported to the ESP or not) [messages].
        hard_bounces : array
            Hard bounces [messages].
        overflow : array
            Today's share of volume above the cap [fraction 0-1].
        target_drop : array
            Scripted drop of shared IPs' targets (neighbour incidents) [score points].
        rng : numpy.random.Generator
        """
        m = self.model
        a = m.signal_smoothing
        self.inbox_smoothed += a * (inbox - self.inbox_smoothed)
        self.complaints_smoothed += a * (complaints - self.complaints_smoothed)
        self.attempts_smoothed += a * (volume - self.attempts_smoothed)
        self.hard_smoothed += a * (hard_bounces - self.hard_smoothed)
        prior = m.prior_messages

        def penalty(complaints_, inbox_, hard_, attempts_):
            rate_c = (complaints_ + prior * m.complaint_threshold) / (inbox_ + prior)
            rate_b = (hard_ + prior * m.bounce_threshold * 0.25) / (attempts_ + prior)
            return complaint_penalty(rate_c, m) + bounce_penalty(rate_b, m)

        own = penalty(self.complaints_smoothed, self.inbox_smoothed, self.hard_smoothed,
                      self.attempts_smoothed)
        domain = penalty(self.complaints_smoothed.sum(1), self.inbox_smoothed.sum(1),
                         self.hard_smoothed.sum(1), self.attempts_smoothed.sum(1))

        n_providers, n_ips = self.ip_score.shape
        noise = rng.standard_normal((n_providers, n_ips + 1))
        shock_draw = rng.random((n_providers, n_ips))
        shock_size = rng.exponential(m.shared_shock_size, (n_providers, n_ips))

        # Domain reputation: the sender's own behaviour, as far as the provider looks at it.
        self.domain_deviation += (
            m.persistence_domain * (-self.domain_weight * domain - self.domain_deviation)
            + m.noise_domain * noise[:, -1]
        )

        self.volume_history.append(volume.astype(float))
        self.excess_history.append(overflow * volume)
        if len(self.volume_history) > m.cap_window_days:
            self.volume_history.pop(0)
        if len(self.excess_history) > m.overload_window_days:
            self.excess_history.pop(0)
        recent_peak = np.max(self.volume_history, axis=0)
        recent_volume = np.sum(self.volume_history[-m.overload_window_days:], axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.overload_recent = np.where(
                recent_volume > 0, np.sum(self.excess_history, axis=0) / recent_volume, 0.0)

        healthy = self.healthy_score[:, None]
        sending = volume > 0
        quality = np.exp(-own / 10.0) * (1.0 - 0.5 * overflow)
        # Maturity: history builds with consistent, well-received sending, fades when idle.
        grow = (1.0 - self.maturity) * quality / self.maturity_days[:, None]
        fade = self.maturity / m.idle_maturity_days
        self.maturity = np.clip(self.maturity + np.where(sending, grow, -fade), 0.0, 1.0)

        dedicated_target = (
            healthy
            - m.cold_gap * (1.0 - self.maturity)
            - (1.0 - self.domain_weight[:, None]) * own
            - m.overload_penalty * self.overload_recent
        )
        self.shock *= 1.0 - m.persistence_shared
        self.shock += np.where(shock_draw < m.shared_shock_rate, shock_size, 0.0)
        shared_target = self.shared_level - self.shock - target_drop

        low_volume = np.clip(1.0 - volume / m.low_volume_daily, 0.0, 1.0)
        dedicated_noise = m.noise_dedicated * (1.0 + m.low_volume_noise_factor * low_volume)
        shared_mask = np.broadcast_to(self.shared[None, :], self.ip_score.shape)
        kappa = np.where(shared_mask, m.persistence_shared, m.persistence_dedicated)
        target = np.where(shared_mask, shared_target, dedicated_target)
        sigma = np.where(shared_mask, m.noise_shared, dedicated_noise)
        self.ip_score += kappa * (target - self.ip_score) + sigma * noise[:, :-1]
        self.ip_score = np.clip(self.ip_score, 0.0, 100.0 + 5.0)

        # Acceptance cap of dedicated IPs.
        cold = np.broadcast_to(self.cold_cap[:, None], self.cap.shape)
        # A provider extends its trust while the IP is actually using it: the busiest day of
        # the last week against the cap (a weekly sender keeps growing between sends).
        week_peak = np.max(self.volume_history[-7:], axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            utilisation = np.where(self.cap > 0, np.minimum(1.0, week_peak / self.cap), 0.0)
        grown = self.cap * (1.0 + m.cap_growth * quality * utilisation)
        bounded = np.minimum(grown, m.cap_headroom * recent_peak)
        new_cap = np.maximum(cold, bounded)
        self.cap = np.where(shared_mask, np.inf, new_cap)
