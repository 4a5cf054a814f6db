"""Configuration of a simulated sender: who it mails, what it sends, through which IPs.

Every field has a default with its unit in brackets and, where a published number backs it,
the fact id of ``shared/reference/domain-facts.md`` (F.. for facts, E.. for economics, M.. for
methods, "section 9" for the suggested-defaults table). Numbers without a fact id are modelling
assumptions and say so. All configuration objects are frozen dataclasses; derive variants with
:func:`dataclasses.replace`.

Days are counted from the simulation start (day 0 is the start date, UTC). Times of day are UTC
hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..schema import ESP_FORMATS, MAILBOX_PROVIDERS

# --------------------------------------------------------------------------------------------
# Mailbox providers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderProfile:
    """How one mailbox provider treats mail (the receiving side of the model).

    Parameters
    ----------
    name : str
        Canonical provider name (``schema.MAILBOX_PROVIDERS``).
    domains : mapping of str to float
        Recipient domains at this provider and their share of its users [fraction 0-1, summing
        to 1]. Consumer domains must map to ``name`` in the bundled provider table.
    baseline_inbox_rate : float
        Inbox share of accepted mail for a healthy, warmed sender [fraction 0-1]; sets the
        provider's healthy reputation score through the F19 link. Defaults: section 9 (F17).
    domain_weight : float
        Weight of the sending *domain*'s reputation against the IP's [fraction 0-1]. Gmail
        combines domain and IP reputation with the domain dominant (F28); Microsoft is known to
        be IP-centric (SNDS is per IP, F13). Modelling assumption beyond that ordering.
    block_ceiling : float
        Share of mail rejected outright (5xx) at a very poor reputation [fraction 0-1]. Gmail
        prefers spam-foldering and rate-limiting (F3), Microsoft blocks (S3150). Assumption.
    overflow_defer_share : float
        Of mail above the provider's acceptance cap for an IP, the share deferred with a 4xx
        rate-limit reply (the rest is bulked into spam) [fraction 0-1]. F25: expect bulking at
        Gmail/Yahoo and 421 deferrals at Microsoft/AOL/Comcast during warm-up.
    transient_deferral_probability : float
        Chance that an ordinary message is deferred once or twice before delivery (greylisting,
        busy servers) [fraction 0-1]. Assumption.
    mailbox_full_probability : float
        Chance that a valid mailbox is over quota, retried until the ESP gives up (72 h, F24)
        [fraction 0-1]. Assumption.
    cold_daily_cap : float
        Messages per day the provider accepts from an IP it has never seen [messages/day].
        F24: SendGrid's day-0 warm-up cap is 20/h, about 480/day.
    maturity_days : float
        Time constant of an IP's history at this provider under consistent sending [days].
        F23: some providers accept a new IP in about 2 weeks, others take up to 6.
    feedback_loop : bool
        Whether complaints reach the ESP as events. Gmail sends no per-message feedback loop
        (F4) and neither do Apple or most business domains; Microsoft (JMRP), Yahoo/AOL/AT&T
        (CFL) and Comcast do.
    link_scanner_probability : float
        Chance that a security scanner follows the links of a delivered message (a machine
        click within seconds) [fraction 0-1]; corporate filters do this (F33). Assumption.
    mx_host : str
        Receiving MTA host name; ``{domain}`` is replaced by the recipient domain.
    """

    name: str
    domains: Mapping[str, float]
    baseline_inbox_rate: float
    domain_weight: float = 0.5
    block_ceiling: float = 0.4
    overflow_defer_share: float = 0.5
    transient_deferral_probability: float = 0.01
    mailbox_full_probability: float = 0.002
    cold_daily_cap: float = 500.0
    maturity_days: float = 14.0
    feedback_loop: bool = False
    link_scanner_probability: float = 0.0
    mx_host: str = "mx1.{domain}"

    def __post_init__(self) -> None:
        if self.name not in MAILBOX_PROVIDERS:
            raise ValueError(f"unknown mailbox provider {self.name!r}")
        total = sum(self.domains.values())
        if not self.domains or abs(total - 1.0) > 1e-6:
            raise ValueError(f"{self.name}: domain shares must sum to 1, not {total}")
        for name in ("baseline_inbox_rate", "domain_weight", "block_ceiling",
                     "overflow_defer_share", "transient_deferral_probability",
                     "mailbox_full_probability", "link_scanner_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{self.name}: {name} must be a fraction in [0, 1], not {value}")


#: Fictional business domains (no provider known from the address alone, so ``other``).
BUSINESS_DOMAINS: tuple[str, ...] = (
    "northwind-traders.com", "brightlane.io", "harbor-analytics.com", "kestrelworks.co",
    "bluefinch-labs.com", "oakridge-logistics.com", "meridian-health.org", "copperleaf.dev",
    "tidewater-group.com", "summitpeak-consulting.com", "lumenhaus.de", "riverbend-school.edu",
    "granite-finance.com", "velvetorbit.io", "pinecrest-media.com", "ironbark-systems.com",
    "saltmarsh-design.co.uk", "quillstone.net", "arcadia-retail.com", "foxglove-studio.fr",
)

#: Default provider profiles. Inbox baselines from section 9 (F17); the rest as documented in
#: :class:`ProviderProfile`. AT&T mail runs on Yahoo's platform, so it takes Yahoo's profile.
PROVIDER_PROFILES: dict[str, ProviderProfile] = {
    "gmail": ProviderProfile(
        "gmail", {"gmail.com": 0.98, "googlemail.com": 0.02}, baseline_inbox_rate=0.90,
        domain_weight=0.7, block_ceiling=0.3, overflow_defer_share=0.3,
        transient_deferral_probability=0.005, mailbox_full_probability=0.001,
        cold_daily_cap=500.0, maturity_days=14.0, feedback_loop=False,
        mx_host="gmail-smtp-in.l.google.com",
    ),
    "microsoft": ProviderProfile(
        "microsoft",
        {"outlook.com": 0.40, "hotmail.com": 0.35, "live.com": 0.12, "msn.com": 0.05,
         "hotmail.co.uk": 0.05, "outlook.de": 0.03},
        baseline_inbox_rate=0.77, domain_weight=0.3, block_ceiling=0.6,
        overflow_defer_share=0.9, transient_deferral_probability=0.01,
        mailbox_full_probability=0.001, cold_daily_cap=500.0, maturity_days=28.0,
        feedback_loop=True, mx_host="{label}.olc.protection.outlook.com",
    ),
    "yahoo": ProviderProfile(
        "yahoo", {"yahoo.com": 0.62, "aol.com": 0.25, "ymail.com": 0.05, "yahoo.co.uk": 0.05,
                  "rocketmail.com": 0.03},
        baseline_inbox_rate=0.87, domain_weight=0.5, block_ceiling=0.4,
        overflow_defer_share=0.8, transient_deferral_probability=0.02,
        mailbox_full_probability=0.003, cold_daily_cap=500.0, maturity_days=14.0,
        feedback_loop=True, mx_host="mta5.am0.yahoodns.net",
    ),
    "apple": ProviderProfile(
        "apple", {"icloud.com": 0.85, "me.com": 0.10, "mac.com": 0.05},
        baseline_inbox_rate=0.82, domain_weight=0.5, block_ceiling=0.4,
        overflow_defer_share=0.5, transient_deferral_probability=0.005,
        mailbox_full_probability=0.002, cold_daily_cap=500.0, maturity_days=21.0,
        feedback_loop=False, mx_host="mx01.mail.icloud.com",
    ),
    "att": ProviderProfile(
        "att", {"att.net": 0.6, "sbcglobal.net": 0.3, "bellsouth.net": 0.1},
        baseline_inbox_rate=0.87, domain_weight=0.5, block_ceiling=0.4,
        overflow_defer_share=0.8, transient_deferral_probability=0.02,
        mailbox_full_probability=0.003, cold_daily_cap=300.0, maturity_days=14.0,
        feedback_loop=True, mx_host="ff-ip4-mx-vip1.prodigy.net",
    ),
    "comcast": ProviderProfile(
        "comcast", {"comcast.net": 1.0}, baseline_inbox_rate=0.85, domain_weight=0.3,
        block_ceiling=0.5, overflow_defer_share=0.9, transient_deferral_probability=0.02,
        mailbox_full_probability=0.003, cold_daily_cap=300.0, maturity_days=21.0,
        feedback_loop=True, mx_host="mx1a1.comcast.net",
    ),
    "other": ProviderProfile(
        # B2B hosting and corporate filters: F17 gives 83.0% (Office 365 / Google Workspace).
        "other", {d: 1.0 / len(BUSINESS_DOMAINS) for d in BUSINESS_DOMAINS},
        baseline_inbox_rate=0.83, domain_weight=0.5, block_ceiling=0.5,
        overflow_defer_share=0.5, transient_deferral_probability=0.04,
        mailbox_full_probability=0.002, cold_daily_cap=1000.0, maturity_days=7.0,
        feedback_loop=False, link_scanner_probability=0.05, mx_host="mx1.{domain}",
    ),
}


# --------------------------------------------------------------------------------------------
# Audience
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    """Who the sender mails. The audience *size* is the ``recipients`` argument of
    :func:`~deliverability_econ.simulate.sender`; this describes its shape.

    Parameters
    ----------
    provider_mix : mapping of str to float
        Share of recipients at each mailbox provider [fraction 0-1, summing to 1]. Placement
        overall is the mix-weighted placement per provider (M4). Default: a US-leaning
        consumer/SMB SaaS list (assumption).
    engagement_alpha, engagement_beta : float
        Beta distribution of each recipient's engagement propensity ``x`` [dimensionless]. A
        recipient reads an inbox message with ``1 - (1 - q) ** (x / mean(x))``, where ``q`` is
        solved so that the audience mean is the stream's ``open_probability``
        (:func:`~deliverability_econ.simulate.engine.inbox_read_base`); low-propensity
        recipients also complain more. Beta(2, 3) has mean 0.4 (assumption).
    apple_mail_share : float
        Share of all recipients reading in Apple Mail with Mail Privacy Protection on, whatever
        their mailbox provider [fraction 0-1]. F32: Apple's real share of readers is about
        25-35% in the US (Litmus' 57% of *opens* is inflated by MPP itself); with the default
        streams 0.30 makes machine opens about 60% of all opens (F32: "up to 60% of opens may be
        artificial"; section 9: MPP share of opens 0.35-0.60).
    apple_provider_mail_share : float
        The same share among iCloud recipients [fraction 0-1]; the remainder is spread over
        the other providers so that the overall share is ``apple_mail_share`` (F30: MPP applies
        to any account read in Apple Mail). Assumption.
    mpp_prefetch_probability : float
        Chance that Apple's proxy fetches the tracking pixel of a delivered message, inbox or
        spam folder [fraction 0-1]. F31: about 97% of users opted in.
    repeat_open_mean : float
        Mean number of extra opens after the first (human re-reads, repeated proxy fetches)
        [opens/message, Poisson]. Assumption.
    invalid_share_at_start : float
        Share of the existing list already undeliverable at the start [fraction 0-1]; first
        sends hard-bounce. F12: healthy bounce about 1%.
    signup_typo_share : float
        Share of new sign-ups giving an address that does not exist [fraction 0-1]; their
        verification mail hard-bounces. E4 (about 400 of 2,000 lingering accounts bounced).
    annual_decay_rate : float
        Share of valid addresses that become undeliverable per year (abandoned accounts, job
        changes) [fraction/year]. Commonly quoted list decay of about 22%/year (assumption; not
        in the fact sheet).
    new_signup_share : float
        Share of the audience that signs up during the simulated period (uniformly in time)
        [fraction 0-1]; they receive verification and onboarding mail. Assumption.
    marketing_opt_in_share : float
        Share of recipients subscribed to marketing mail [fraction 0-1]. Assumption.
    customer_share : float
        Share of existing recipients that are paying customers [fraction 0-1]. Assumption.
    annual_contract_share : float
        Of customers, the share on annual contracts (renewal reminders); the rest pay monthly
        (dunning after failed payments) [fraction 0-1]. Assumption.
    demo_request_share : float
        Share of new sign-ups that book a demo [fraction 0-1]. Assumption.
    stale_invalid_share : float
        Share of undeliverable addresses in an old, unmailed segment that a list-hygiene failure
        imports [fraction 0-1]. Assumption, chosen to push the send above the SES review
        threshold of 5% bounces (F10).
    stale_trap_share : float
        Share of that segment that are recycled spam traps [fraction 0-1]. Assumption.
    stale_engagement_alpha, stale_engagement_beta : float
        Engagement propensity of the stale segment (Beta) [dimensionless]. Assumption.
    """

    provider_mix: Mapping[str, float] = field(
        default_factory=lambda: {
            "gmail": 0.45, "microsoft": 0.17, "yahoo": 0.10, "apple": 0.07, "att": 0.02,
            "comcast": 0.02, "other": 0.17,
        }
    )
    engagement_alpha: float = 2.0
    engagement_beta: float = 3.0
    apple_mail_share: float = 0.30
    apple_provider_mail_share: float = 0.95
    mpp_prefetch_probability: float = 0.97
    repeat_open_mean: float = 0.35
    invalid_share_at_start: float = 0.01
    signup_typo_share: float = 0.02
    annual_decay_rate: float = 0.22
    new_signup_share: float = 0.25
    marketing_opt_in_share: float = 0.75
    customer_share: float = 0.30
    annual_contract_share: float = 0.5
    demo_request_share: float = 0.12
    stale_invalid_share: float = 0.30
    stale_trap_share: float = 0.005
    stale_engagement_alpha: float = 1.0
    stale_engagement_beta: float = 8.0

    def __post_init__(self) -> None:
        total = sum(self.provider_mix.values())
        if not self.provider_mix or abs(total - 1.0) > 1e-6:
            raise ValueError(f"provider_mix shares must sum to 1, not {total}")
        for provider in self.provider_mix:
            if provider not in MAILBOX_PROVIDERS:
                raise ValueError(f"provider_mix: unknown mailbox provider {provider!r}")
        for name in ("apple_mail_share", "apple_provider_mail_share", "mpp_prefetch_probability",
                     "invalid_share_at_start", "signup_typo_share", "new_signup_share",
                     "marketing_opt_in_share", "customer_share", "annual_contract_share",
                     "demo_request_share", "stale_invalid_share", "stale_trap_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Audience.{name} must be a fraction in [0, 1], not {value}")


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------

#: What starts a stream's messages.
TRIGGERS: tuple[str, ...] = (
    "signup",            # a new sign-up; messages at sign-up + offsets_days
    "demo_request",      # a sign-up books a demo; messages at booking + offsets_days
    "password_reset",    # a reset request, Poisson at rate_per_day per recipient
    "renewal",           # an annual renewal date; messages at renewal + offsets_days (negative)
    "payment_failure",   # a failed monthly payment, Poisson at rate_per_day per customer
    "calendar",          # a scheduled campaign to every opted-in recipient on given weekdays
)


@dataclass(frozen=True)
class Stream:
    """One mail stream: what triggers it, how recipients react, what it converts.

    Parameters
    ----------
    name : str
        Stream name as it appears in the events' ``stream`` column.
    kind : {"transactional", "marketing"}
        Marketing streams carry an unsubscribe link and stop after an unsubscribe.
    trigger : str
        One of :data:`TRIGGERS`.
    offsets_days : tuple of float
        Delays of the stream's messages after the trigger [days]; negative before it (renewal).
    rate_per_day : float
        Trigger rate for Poisson triggers [events/recipient/day].
    weekdays : tuple of int
        Send days of a calendar stream (Monday = 0).
    send_hour : float
        Hour of a calendar send [UTC hours].
    send_spread_hours : float
        How long the ESP takes to push a calendar send out [hours].
    campaign : str
        Campaign name; ``{date}`` (send day) and ``{offset}`` (offset in days) are filled in.
    subject : str
        Subject line (for format writers).
    link_url : str
        The tracked link in the message (for clicks).
    open_probability : float
        Mean chance that a recipient reads the message when it is in the inbox [fraction 0-1],
        higher for engaged recipients (see ``Audience.engagement_alpha``). E3: transactional
        30-40%, password resets 80-85%; marketing 15-25%.
    click_probability : float
        Chance of a click given a read [fraction 0-1]. Assumption per stream.
    complaint_probability : float
        Chance of a "this is spam" report per inbox-placed message, for a recipient of average
        engagement [fraction 0-1]; low-engagement recipients complain up to twice as often.
        Only inbox mail can be reported (F4, F14). F12: complaints about 0.01% of delivered.
    unsubscribe_probability : float
        Chance of an unsubscribe per inbox-placed marketing message [fraction 0-1]. F12: 0.20%.
    spam_folder_engagement_ratio : float
        ``r``: read probability in the spam folder relative to the inbox [fraction 0-1]. Small
        for marketing (F21: 0.02% rescued); larger for mail the user is waiting for (E4: 3-4 of
        100 sign-ups rescue their verification mail from spam).
    open_delay_median_minutes, open_delay_sigma : float
        Lognormal delay from delivery to the first read: median [minutes] and log-sd [-].
    conversion_if_seen, conversion_if_unseen : float
        Chance that the funnel step the message serves is completed when the message was read
        by its deadline, and when it was not [fraction 0-1] (DESIGN: an email stage converts
        only when seen). Defaults per stream from E4-E8 (section 9).
    deadline_hours : float
        Time after sending within which a read counts as seen in time [hours].
    """

    name: str
    kind: str
    trigger: str
    offsets_days: tuple[float, ...] = (0.0,)
    rate_per_day: float = 0.0
    weekdays: tuple[int, ...] = ()
    send_hour: float = 14.0
    send_spread_hours: float = 1.0
    campaign: str = "{name}"
    subject: str = ""
    link_url: str = "https://app.example.com/"
    open_probability: float = 0.35
    click_probability: float = 0.2
    complaint_probability: float = 0.0001
    unsubscribe_probability: float = 0.0
    spam_folder_engagement_ratio: float = 0.03
    open_delay_median_minutes: float = 120.0
    open_delay_sigma: float = 1.5
    conversion_if_seen: float = 0.5
    conversion_if_unseen: float = 0.2
    deadline_hours: float = 72.0

    def __post_init__(self) -> None:
        if self.kind not in ("transactional", "marketing"):
            raise ValueError(f"stream {self.name!r}: kind must be 'transactional' or 'marketing'")
        if self.trigger not in TRIGGERS:
            raise ValueError(f"stream {self.name!r}: trigger must be one of {TRIGGERS}")
        if self.trigger == "calendar" and not self.weekdays:
            raise ValueError(f"stream {self.name!r}: a calendar stream needs weekdays")
        for name in ("open_probability", "click_probability", "complaint_probability",
                     "unsubscribe_probability", "spam_folder_engagement_ratio",
                     "conversion_if_seen", "conversion_if_unseen"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"stream {self.name!r}: {name} must be in [0, 1], not {value}")


#: The default streams of a B2B/B2C SaaS sender.
DEFAULT_STREAMS: tuple[Stream, ...] = (
    Stream(
        "verification", "transactional", "signup", offsets_days=(0.0,),
        campaign="verify-email", subject="Confirm your email address",
        link_url="https://app.example.com/verify",
        # E3: an expected transactional mail is opened like a password reset (80-85%).
        open_probability=0.85, click_probability=0.90, complaint_probability=0.00002,
        spam_folder_engagement_ratio=0.25, open_delay_median_minutes=4.0, open_delay_sigma=1.8,
        # E4: ~80% verify overall (~70% within 24 h, ~90% within 7 days); without the mail a
        # user can still ask for a new link or find it later.
        conversion_if_seen=0.97, conversion_if_unseen=0.20, deadline_hours=168.0,
    ),
    Stream(
        "onboarding", "marketing", "signup", offsets_days=(1.0, 3.0, 7.0, 14.0),
        campaign="onboarding-day-{offset}", subject="Get started in three steps",
        link_url="https://app.example.com/onboarding",
        open_probability=0.40, click_probability=0.25, complaint_probability=0.0003,
        unsubscribe_probability=0.002, spam_folder_engagement_ratio=0.03,
        open_delay_median_minutes=150.0, open_delay_sigma=1.5,
        # E5: activation 37.5% on average.
        conversion_if_seen=0.45, conversion_if_unseen=0.30, deadline_hours=72.0,
    ),
    Stream(
        "password_reset", "transactional", "password_reset", rate_per_day=0.0015,
        campaign="password-reset", subject="Reset your password",
        link_url="https://app.example.com/reset",
        open_probability=0.85, click_probability=0.90, complaint_probability=0.00001,
        spam_folder_engagement_ratio=0.25, open_delay_median_minutes=1.5, open_delay_sigma=1.5,
        # Reset links typically expire after an hour; a missed one becomes a ticket (E9).
        conversion_if_seen=0.95, conversion_if_unseen=0.10, deadline_hours=1.0,
    ),
    Stream(
        "demo_confirmation", "transactional", "demo_request", offsets_days=(0.0,),
        campaign="demo-confirmation", subject="Your demo is booked",
        link_url="https://app.example.com/demo",
        open_probability=0.70, click_probability=0.30, complaint_probability=0.00005,
        spam_folder_engagement_ratio=0.10, open_delay_median_minutes=30.0, open_delay_sigma=1.5,
        # E6: inbound demo requests show 70-85%; section 9 default 0.78.
        conversion_if_seen=0.85, conversion_if_unseen=0.60, deadline_hours=48.0,
    ),
    Stream(
        "renewal_reminder", "transactional", "renewal", offsets_days=(-30.0, -7.0, -1.0),
        campaign="renewal-reminder-{offset}d", subject="Your subscription renews soon",
        link_url="https://app.example.com/billing",
        open_probability=0.45, click_probability=0.20, complaint_probability=0.0001,
        spam_folder_engagement_ratio=0.03, open_delay_median_minutes=240.0, open_delay_sigma=1.5,
        # E7: gross revenue retention about 0.90.
        conversion_if_seen=0.93, conversion_if_unseen=0.85, deadline_hours=240.0,
    ),
    Stream(
        "dunning", "transactional", "payment_failure", offsets_days=(0.0, 3.0, 7.0),
        rate_per_day=0.04 / 30.0, campaign="dunning-day-{offset}",
        subject="Your payment did not go through", link_url="https://app.example.com/billing",
        open_probability=0.50, click_probability=0.35, complaint_probability=0.0002,
        spam_folder_engagement_ratio=0.05, open_delay_median_minutes=180.0, open_delay_sigma=1.5,
        # E8: failed-payment recovery ~0.48; email-only dunning ~0.42.
        conversion_if_seen=0.55, conversion_if_unseen=0.25, deadline_hours=72.0,
    ),
    Stream(
        "newsletter", "marketing", "calendar", weekdays=(1,), send_hour=14.0,
        send_spread_hours=1.5, campaign="newsletter-{date}", subject="What's new this week",
        link_url="https://www.example.com/blog",
        # E3: marketing opens 15-25%; F12: unsubscribes 0.20%, complaints ~0.01% of delivered.
        open_probability=0.22, click_probability=0.12, complaint_probability=0.0006,
        unsubscribe_probability=0.002, spam_folder_engagement_ratio=0.02,
        open_delay_median_minutes=180.0, open_delay_sigma=1.6,
        # E2: flow placed-order rate ~1.7% median; a campaign converts far less (assumption).
        conversion_if_seen=0.01, conversion_if_unseen=0.0, deadline_hours=168.0,
    ),
)


# --------------------------------------------------------------------------------------------
# Infrastructure
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IP:
    """A sending IP address.

    Parameters
    ----------
    address : str
        Dotted IPv4 address.
    pool : str
        IP pool name the ESP routes by.
    shared : bool
        A shared-pool IP: its reputation is the pool's (other senders'), not yours (DESIGN,
        "Shared vs dedicated").
    warm : bool
        For a dedicated IP: whether it has a sending history at the start. A cold IP starts at
        the providers' cold cap with no history (F28: new IPs start slightly negative).
    """

    address: str
    pool: str
    shared: bool = False
    warm: bool = True


#: Published warm-up schedules [messages/day per IP, by warm-up day].
#: F25: SparkPost's recommended daily volume per IP, days 1-29.
SPARKPOST_WARMUP: tuple[int, ...] = (
    200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 40_000, 50_000, 75_000, 100_000, 150_000,
    200_000, 250_000, 325_000, 400_000, 500_000, 600_000, 750_000, 1_000_000, 1_250_000,
    1_750_000, 2_000_000, 3_000_000, 4_250_000, 5_000_000, 6_000_000, 7_500_000, 10_000_000,
)
#: F24: SendGrid's automated warm-up hourly caps, days 0-41, as 24-hour volumes.
SENDGRID_WARMUP: tuple[int, ...] = tuple(24 * h for h in (
    20, 28, 39, 55, 77, 108, 151, 211, 295, 413, 579, 810, 1_000, 1_587, 2_222, 3_111, 4_356,
    6_098, 8_583, 11_953, 16_734, 23_427, 32_798, 45_917, 64_284, 89_998, 125_997, 176_395,
    246_953, 345_735, 484_029, 677_640, 948_696, 1_328_175, 1_859_444, 2_603_222, 3_644_511,
    5_102_316, 7_143_242, 10_000_539, 14_000_754, 19_601_056,
))


@dataclass(frozen=True)
class Migration:
    """Moving streams to another pool from a given day, with or without a warm-up ramp.

    Parameters
    ----------
    to_pool : str
        Destination pool.
    start_day : int
        First day on the new pool [days from start].
    schedule : {"cold", "geometric", "sparkpost", "sendgrid"} or tuple of int
        Daily volume allowed per destination IP while warming [messages/day]; the excess stays
        on the old route (overflow to the shared pool, F26, F27). ``"cold"``: everything moves
        on day one (a cut-over); ``"sparkpost"``: F25; ``"sendgrid"``: F24 hourly caps times 24;
        ``"geometric"``: from ``first_day_volume`` up to the busiest day's volume over
        ``ramp_days`` (section 9: warm-up 30-45 days).
    ramp_days : int
        Length of a geometric ramp [days].
    first_day_volume : float
        First day of a geometric ramp [messages/day per IP]; F25 starts at 200.
    streams : tuple of str, optional
        Streams that move; all when None.
    engaged_first : bool
        While the allowance binds, give it to the most engaged recipients first (F25: weeks 1-2
        only recipients engaged in the last 30 days); otherwise at random. Either way marketing
        mail takes the allowance before transactional mail, which gets what is left and
        otherwise stays on the old route.
    """

    to_pool: str
    start_day: int
    schedule: str | tuple[int, ...] = "cold"
    ramp_days: int = 30
    first_day_volume: float = 200.0
    streams: tuple[str, ...] | None = None
    engaged_first: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.schedule, str) and self.schedule not in (
            "cold", "geometric", "sparkpost", "sendgrid"
        ):
            raise ValueError(f"unknown warm-up schedule {self.schedule!r}")
        if self.ramp_days < 1:
            raise ValueError("ramp_days must be at least 1")


#: Documentation address ranges (RFC 5737), so simulated IPs can never be real senders.
SHARED_POOL_IPS: tuple[IP, ...] = tuple(
    IP(f"198.51.100.{n}", "shared", shared=True) for n in (21, 22, 23, 24)
)


@dataclass(frozen=True)
class Infrastructure:
    """Where mail leaves from.

    Parameters
    ----------
    ips : tuple of IP
        Every IP the sender may use, in any pool. Default: a shared pool of four IPs.
    default_pool : str
        Pool for streams without a route.
    routes : mapping of str to str
        ``{stream: pool}`` overrides (e.g. marketing and transactional on separate pools).
    migrations : tuple of Migration
        Pool changes during the simulation, applied in order.
    """

    ips: tuple[IP, ...] = SHARED_POOL_IPS
    default_pool: str = "shared"
    routes: Mapping[str, str] = field(default_factory=dict)
    migrations: tuple[Migration, ...] = ()

    def __post_init__(self) -> None:
        pools = {ip.pool for ip in self.ips}
        addresses = [ip.address for ip in self.ips]
        if len(set(addresses)) != len(addresses):
            raise ValueError("Infrastructure: duplicate IP address")
        for pool in [self.default_pool, *self.routes.values(), *(m.to_pool for m in self.migrations)]:
            if pool not in pools:
                raise ValueError(f"Infrastructure: pool {pool!r} has no IP; pools: {sorted(pools)}")
        for pool in pools:
            kinds = {ip.shared for ip in self.ips if ip.pool == pool}
            if len(kinds) > 1:
                raise ValueError(f"Infrastructure: pool {pool!r} mixes shared and dedicated IPs")


# --------------------------------------------------------------------------------------------
# Incidents
# --------------------------------------------------------------------------------------------

#: Incident kinds and what ``magnitude`` means for each.
INCIDENT_KINDS: dict[str, str] = {
    "neighbour": "drop of the shared pool's reputation score [score points]",
    "complaint_spike": "multiplier on the complaint probability [ratio]",
    "list_hygiene_failure": "size of an old, unmailed segment added to calendar sends "
                            "[fraction of the audience]",
    "volume_spike": "calendar sends per day during the spike [sends/day]",
}


@dataclass(frozen=True)
class Incident:
    """A scripted event.

    Parameters
    ----------
    kind : str
        One of :data:`INCIDENT_KINDS`.
    start_day : int
        First day [days from start].
    duration_days : int
        Length [days]; a list-hygiene failure lasts until the end (the segment stays on the
        list until its bounces are suppressed).
    magnitude : float
        See :data:`INCIDENT_KINDS` for the unit.
    providers : tuple of str, optional
        Providers affected (neighbour incidents); all when None.
    pool : str, optional
        Pool affected (neighbour incidents); every shared pool when None.
    streams : tuple of str, optional
        Streams affected (complaint and volume spikes); the calendar streams when None.
    """

    kind: str
    start_day: int
    duration_days: int = 1
    magnitude: float = 1.0
    providers: tuple[str, ...] | None = None
    pool: str | None = None
    streams: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            raise ValueError(f"unknown incident kind {self.kind!r}; known: {list(INCIDENT_KINDS)}")
        if self.duration_days < 1:
            raise ValueError("duration_days must be at least 1")

    def active(self, day: int) -> bool:
        """Whether the incident is running on ``day``."""
        return self.start_day <= day < self.start_day + self.duration_days


# --------------------------------------------------------------------------------------------
# Reputation process
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReputationModel:
    """Parameters of the latent reputation process and its link to placement.

    The latent score lives on a Sender-Score-like 0-100 scale. Placement of accepted mail is
    ``inbox_share = link_ceiling / (1 + exp(-(score - link_midpoint) / link_scale))``; the
    defaults are a least-squares fit to F19's bands (91-100: 0.915, 81-90: 0.70, 71-80: 0.435,
    averaging the 2017 and 2018 figures), within 0.025 of each.

    Parameters
    ----------
    link_ceiling : float
        Inbox share at a perfect score [fraction 0-1] (F19 fit).
    link_midpoint : float
        Score at half the ceiling [score points] (F19 fit).
    link_scale : float
        Logistic scale [score points] (F19 fit).
    block_floor : float
        Share of mail rejected for reputation at any score [fraction 0-1]. Assumption.
    block_midpoint, block_scale : float
        Score at which half of a provider's ``block_ceiling`` applies, and the logistic scale
        [score points]. Assumption: blocks only matter in F19's "small fraction" band (<= 70).
    persistence_dedicated, persistence_shared, persistence_domain : float
        AR(1) pull of the IP score (dedicated, shared) and the domain deviation toward their
        targets [fraction per day]; 0.1/day is a time constant of 10 days. Assumption.
    noise_dedicated, noise_shared, noise_domain : float
        Daily innovation standard deviation [score points]. Assumption.
    low_volume_daily : float
        Daily volume per provider below which a dedicated IP's reputation gets noisier
        [messages/day]. F23: keep about 1,000/day per provider per IP.
    low_volume_noise_factor : float
        Extra noise multiplier at zero volume [ratio]. Assumption.
    cold_gap : float
        Score deficit of an IP with no history at a provider [score points]; it shrinks with the
        IP's maturity (time constant ``ProviderProfile.maturity_days``). F28: new IPs start
        slightly negative, which mostly shows as rate limiting (the acceptance cap).
    overload_penalty : float
        Target-score drop per unit share of the last ``overload_window_days``' volume that was
        above the acceptance cap [score points]. With the cap this makes a cold cut-over fall to
        the "fair/poor" band for weeks (section 9: 2-6 weeks; F23, F25, F28: one million
        messages from an unknown IP risk being treated as spam). Assumption.
    overload_window_days : int
        Window of that share [days].
    complaint_threshold : float
        Complaint rate per inbox message above which reputation suffers [fraction 0-1]. F2:
        Gmail's target is below 0.10%.
    complaint_penalty : float
        Target-score drop per 0.1 percentage point of complaint rate above the threshold
        [score points]. Assumption, chosen so that F2's 0.30% ceiling costs more than one F19
        band (16 points): Gmail stops mitigating above it (F3).
    complaint_penalty_cap : float
        Largest complaint penalty [score points].
    bounce_threshold : float
        Hard-bounce rate above which reputation suffers [fraction 0-1]. F12: keep below 2%.
    bounce_penalty : float
        Target-score drop per percentage point of hard bounces above the threshold [score
        points]. Assumption.
    bounce_penalty_cap : float
        Largest bounce penalty [score points].
    signal_smoothing : float
        Exponential smoothing weight of daily complaint and bounce counts [fraction per day];
        providers judge recent history, not one day.
    prior_messages : float
        Pseudo-messages at the thresholds added to the smoothed counts, so that one complaint
        among ten messages does not read as a 10% rate [messages]. Assumption.
    cap_growth : float
        Daily growth of a provider's acceptance cap at full utilisation (the busiest day of the
        last week at the cap) and quality [fraction per day]. F24: SendGrid's warm-up caps grow
        about 1.4x per day, an upper bound for what a provider accepts; 1.3x is assumed.
    cap_headroom : float
        The cap never exceeds this multiple of the busiest day in the last ``cap_window_days``
        [ratio]: a week's tripling is absorbed, a larger jump is not (F28, F25: add volume in
        steps). Assumption.
    cap_window_days : int
        Memory of the cap [days]; after this long without mail an IP is cold again (F24:
        re-warm after more than 30 days without sending).
    idle_maturity_days : float
        Time constant of the loss of maturity on days without mail [days]. Assumption.
    shared_discount : float
        A shared pool's healthy score below a healthy dedicated IP's [score points].
        Assumption.
    shared_shock_rate : float
        Chance per day and shared IP of a neighbour shock [fraction per day]. Assumption.
    shared_shock_size : float
        Mean size of a random neighbour shock (exponential) [score points]. Assumption.
    overflow_eventual_delivery : float
        Share of deferred overflow mail delivered within the 72-hour retry window (the rest
        expires) [fraction 0-1]. Assumption (F24, F25: retries for 72 h).
    """

    link_ceiling: float = 0.98
    link_midpoint: float = 77.5
    link_scale: float = 7.8
    block_floor: float = 0.001
    block_midpoint: float = 66.0
    block_scale: float = 4.0
    persistence_dedicated: float = 0.10
    persistence_shared: float = 0.15
    persistence_domain: float = 0.15
    noise_dedicated: float = 0.8
    noise_shared: float = 1.0
    noise_domain: float = 0.4
    low_volume_daily: float = 1000.0
    low_volume_noise_factor: float = 0.5
    cold_gap: float = 10.0
    overload_penalty: float = 40.0
    overload_window_days: int = 14
    complaint_threshold: float = 0.001
    complaint_penalty: float = 8.0
    complaint_penalty_cap: float = 40.0
    bounce_threshold: float = 0.02
    bounce_penalty: float = 3.0
    bounce_penalty_cap: float = 30.0
    signal_smoothing: float = 0.3
    prior_messages: float = 200.0
    cap_growth: float = 0.3
    cap_headroom: float = 3.0
    cap_window_days: int = 30
    idle_maturity_days: float = 60.0
    shared_discount: float = 1.0
    shared_shock_rate: float = 0.01
    shared_shock_size: float = 4.0
    overflow_eventual_delivery: float = 0.7


# --------------------------------------------------------------------------------------------
# Calibration data a real sender would have
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedList:
    """A seed-list placement test (M1), run on the sender's calendar sends.

    Parameters
    ----------
    seeds : mapping of str to int
        Seed mailboxes per provider [mailboxes]. Providers outside the audience are skipped.
    every_days : int
        A test every this many days, on the first send day of the tested stream [days].
    stream : str, optional
        Stream the seeds ride on; the first calendar stream when None (F22: seeds spread
        through a real send).
    seed_bias : float
        Score shift of seed mailboxes against real recipients [score points]; seeds have no
        engagement history, so Gmail may treat them differently (F22). 0 means unbiased.
    """

    seeds: Mapping[str, int] = field(
        default_factory=lambda: {
            "gmail": 25, "microsoft": 20, "yahoo": 15, "apple": 8, "att": 3, "comcast": 3,
            "other": 10,
        }
    )
    every_days: int = 7
    stream: str | None = None
    seed_bias: float = 0.0


@dataclass(frozen=True)
class SenderConfig:
    """Everything that defines a simulated sender.

    Parameters
    ----------
    audience : Audience
    streams : tuple of Stream
    infrastructure : Infrastructure
    incidents : tuple of Incident
    providers : mapping of str to ProviderProfile
        Profiles for every provider in the audience mix.
    reputation : ReputationModel
    seed_list : SeedList
    sender_domain : str
        The From/DKIM domain (Google Postmaster reports per domain).
    esp : str
        The ESP whose event vocabulary the canonical events carry in ``esp``.
    postmaster_min_daily_recipients : int
        Gmail recipients per day below which Postmaster Tools shows no data [recipients/day].
        F5: at least 50 users a day.
    snds_min_daily_messages : int
        Microsoft messages per IP and day below which SNDS omits the day [messages/day]. F13.
    """

    audience: Audience = field(default_factory=Audience)
    streams: tuple[Stream, ...] = DEFAULT_STREAMS
    infrastructure: Infrastructure = field(default_factory=Infrastructure)
    incidents: tuple[Incident, ...] = ()
    providers: Mapping[str, ProviderProfile] = field(default_factory=lambda: dict(PROVIDER_PROFILES))
    reputation: ReputationModel = field(default_factory=ReputationModel)
    seed_list: SeedList = field(default_factory=SeedList)
    sender_domain: str = "mail.example.com"
    esp: str = "sendgrid"
    postmaster_min_daily_recipients: int = 50
    snds_min_daily_messages: int = 100

    def __post_init__(self) -> None:
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise ValueError("SenderConfig: duplicate stream name")
        if not self.streams:
            raise ValueError("SenderConfig: at least one stream is needed")
        for provider in self.audience.provider_mix:
            if provider not in self.providers:
                raise ValueError(f"SenderConfig: no ProviderProfile for {provider!r}")
        if self.esp not in ESP_FORMATS:
            raise ValueError(f"SenderConfig: esp must be one of {ESP_FORMATS}")
        for stream in self.infrastructure.routes:
            if stream not in names:
                raise ValueError(f"Infrastructure.routes: unknown stream {stream!r}")
        for migration in self.infrastructure.migrations:
            for stream in migration.streams or ():
                if stream not in names:
                    raise ValueError(f"Migration.streams: unknown stream {stream!r}")
        for incident in self.incidents:
            for stream in incident.streams or ():
                if stream not in names:
                    raise ValueError(f"Incident.streams: unknown stream {stream!r}")

    def stream(self, name: str) -> Stream:
        """The stream called ``name``."""
        for candidate in self.streams:
            if candidate.name == name:
                return candidate
        raise KeyError(name)
