"""``check_random_state``: one helper normalizes every ``random_state`` argument."""

import numpy as np
import pytest

from deliverability_econ._random import check_random_state


def test_int_seed_reproduces():
    assert check_random_state(3).random() == check_random_state(3).random()
    assert check_random_state(3).random() != check_random_state(4).random()


def test_generator_is_passed_through_and_advances():
    generator = np.random.default_rng(0)
    assert check_random_state(generator) is generator
    first = check_random_state(generator).random()
    assert check_random_state(generator).random() != first


def test_seed_sequence_and_none():
    sequence = np.random.SeedSequence(12)
    assert check_random_state(sequence).random() == np.random.default_rng(np.random.SeedSequence(12)).random()
    assert isinstance(check_random_state(None), np.random.Generator)
    assert isinstance(check_random_state(np.int64(5)), np.random.Generator)


@pytest.mark.parametrize("bad", [1.5, "7", True, np.random.RandomState(0)])
def test_rejects_other_types(bad):
    with pytest.raises(TypeError, match="random_state"):
        check_random_state(bad)


def test_rejects_negative_seed():
    with pytest.raises(ValueError, match="non-negative"):
        check_random_state(-1)
