"""Regenerate the sample sender in data/sample_sender/ from data/sample_sender.toml.

Run from the repository root::

    .venv/bin/python data/regenerate.py

The output is deterministic: the same configuration and code give byte-identical files
(tests/test_sample_data.py regenerates into a temporary directory and compares).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

from deliverability_econ.simulate import SenderConfig, scenario_config, simulate_to_directory

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "sample_sender.toml"
OUTPUT = HERE / "sample_sender"


def load(path: Path = CONFIG) -> dict[str, Any]:
    """The sample's TOML configuration as a dict."""
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def sample_config(settings: dict[str, Any]) -> SenderConfig:
    """The named scenario with the sample's audience mix and calibration floors."""
    simulation = settings["simulation"]
    config = scenario_config(simulation["scenario"], days=simulation["days"])
    audience = settings["audience"]
    config = dataclasses.replace(
        config,
        sender_domain=settings["sender"]["domain"],
        audience=dataclasses.replace(
            config.audience,
            provider_mix=dict(audience["provider_mix"]),
            apple_mail_share=audience["apple_mail_share"],
            marketing_opt_in_share=audience["marketing_opt_in_share"],
            new_signup_share=audience["new_signup_share"],
        ),
        seed_list=dataclasses.replace(config.seed_list,
                                      every_days=settings["calibration"]["seed_list_every_days"]),
        postmaster_min_daily_recipients=settings["calibration"]["postmaster_min_daily_recipients"],
        snds_min_daily_messages=settings["calibration"]["snds_min_daily_messages"],
    )
    return config


def regenerate(output: Path = OUTPUT, config_path: Path = CONFIG):
    """Write the sample sender into ``output`` (replacing what is there)."""
    settings = load(config_path)
    simulation = settings["simulation"]
    if output.exists():
        shutil.rmtree(output)
    return simulate_to_directory(
        output,
        format=simulation["formats"],
        days=simulation["days"],
        recipients=simulation["recipients"],
        seed=simulation["seed"],
        scenario=simulation["scenario"],
        start=str(simulation["start"]),
        config=sample_config(settings),
        compress="gz",
        truth_messages="parquet",
        dmarc=settings.get("dmarc"),
    )


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    written = regenerate(target)
    total = sum(path.stat().st_size for path in written.files())
    print(f"{written.result!r}\nwrote {len(written.files())} files, {total / 1e6:.2f} MB, to {target}")
