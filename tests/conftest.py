import os

import pytest

# Tests never touch the user's key file: a fixed key makes pseudonyms reproducible.
os.environ.setdefault("DELIVERABILITY_ECON_SALT", "test-salt")

TEST_SALT = "test-salt"


@pytest.fixture
def data_dir():
    from pathlib import Path

    return Path(__file__).parent / "data"
