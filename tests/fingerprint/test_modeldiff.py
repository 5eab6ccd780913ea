"""DDV and similarity on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from modelhound.fingerprint.modeldiff import (
    compute_ddv,
    cosine_distances,
    ddv_similarity,
    flatten_outputs,
    normalize,
)


def test_cosine_distance_of_hand_built_pairs() -> None:
    y = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    y_adv = np.array([[0.0, 1.0], [2.0, 0.0], [-1.0, -1.0], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(cosine_distances(y, y_adv), [1.0, 0.0, 2.0, 0.0, 1.0])


def test_ddv_is_unit_norm_and_ignores_output_scale() -> None:
    rng = np.random.default_rng(0)
    y, y_adv = rng.normal(size=(100, 10)), rng.normal(size=(100, 10))
    ddv = compute_ddv([y], [y_adv])
    assert ddv.shape == (100,)
    assert np.linalg.norm(ddv) == pytest.approx(1.0)
    assert np.all(ddv >= 0)
    # A model whose outputs are a positive multiple of another's has the same DDV.
    assert ddv_similarity(ddv, compute_ddv([3 * y], [3 * y_adv])) == pytest.approx(1.0)


def test_identical_models_give_similarity_one_and_unrelated_less() -> None:
    rng = np.random.default_rng(1)
    x, x_adv = rng.normal(size=(100, 16)), rng.normal(size=(100, 16))
    w1, w2 = rng.normal(size=(16, 10)), rng.normal(size=(16, 10))
    d1 = compute_ddv([x @ w1], [x_adv @ w1])
    assert ddv_similarity(d1, compute_ddv([x @ w1], [x_adv @ w1])) == pytest.approx(1.0)
    assert ddv_similarity(d1, compute_ddv([x @ w2], [x_adv @ w2])) < 0.99


def test_different_output_sizes_compare_directly() -> None:
    rng = np.random.default_rng(2)
    x, x_adv = rng.normal(size=(50, 8)), rng.normal(size=(50, 8))
    w = rng.normal(size=(8, 10))
    big = compute_ddv([x @ w], [x_adv @ w])
    small = compute_ddv([(x @ w)[:, :3]], [(x_adv @ w)[:, :3]])
    assert big.shape == small.shape == (50,)
    sim = ddv_similarity(big, small)
    assert 0.0 <= sim <= 1.0


def test_multi_output_models_are_flattened_per_sample() -> None:
    a, b = np.ones((4, 2, 3)), np.zeros((4, 5))
    assert flatten_outputs([a, b]).shape == (4, 11)


def test_zero_ddv_and_mismatched_pair_sets() -> None:
    zero = normalize(np.zeros(10))
    assert not zero.any()
    assert ddv_similarity(zero, zero) == 0.0
    assert ddv_similarity(np.eye(3)[0], np.eye(3)[1]) == 0.0
    with pytest.raises(ValueError):
        ddv_similarity(np.ones(10), np.ones(11))
