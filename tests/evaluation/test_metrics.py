"""Sample-quality metrics (pixelcnn.evaluation.metrics) through torch-fidelity: FID and IS behave as they must,
and a field error names the field (the stage: the params key).

Shape legend: N images, C channels, H W pixels, K classes, D features.
"""

from __future__ import annotations

import numpy as np
import pytest
from scoring_fakes import CPU, TINY, as_the_stage, blobs, certain_classifier, constant_images, offline, random_classifier  # noqa: F401  (offline: autouse)

from pixelcnn.errors import ConfigError, InvalidValue
from pixelcnn.evaluation import metrics


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_noise(tmp_path):
    space = random_classifier(tmp_path / "c.pt")
    images = blobs(300, 0)
    z = np.random.RandomState(1).normal(size=images.shape)
    fids = []
    for sigma in (0, 10, 30, 90):
        noisy = np.clip(images + sigma * z, 0, 255).round().astype(np.uint8)
        fids.append(metrics.fidelity_metrics(noisy, images, space, TINY, CPU, rng_seed=0)["fid"])
    assert abs(fids[0]) < 1e-4 * fids[1]
    assert fids[1] < fids[2] < fids[3]


def test_inception_score_of_a_certain_balanced_classifier_is_k(tmp_path):
    k = 5
    space, levels = certain_classifier(tmp_path / "certain.pt", k)
    images = constant_images(levels, per_class=400)
    m = metrics.fidelity_metrics(images, images, space, TINY, CPU, rng_seed=0)
    assert m["is_mean"] == pytest.approx(k, abs=0.1)
    assert m["precision"] == m["recall"] == 1.0
    one_class = constant_images(levels[:1], per_class=400)
    assert metrics.fidelity_metrics(one_class, images, space, TINY, CPU, rng_seed=0)["is_mean"] == pytest.approx(1.0, abs=1e-3)


def test_prc_neighborhood_must_be_below_the_set_size(tmp_path):
    space = random_classifier(tmp_path / "c.pt")
    with pytest.raises(InvalidValue, match=r"^prc_neighborhood \(3\) must be below the smallest set's size \(3 images\)"):
        metrics.fidelity_metrics(blobs(3, 0), blobs(10, 1), space, TINY, CPU, rng_seed=0)  # the library names the field
    with pytest.raises(ConfigError, match=r"^params.yaml: evaluate.prc_neighborhood \(3\) must be below the smallest set's size"), as_the_stage():
        metrics.fidelity_metrics(blobs(3, 0), blobs(10, 1), space, TINY, CPU, rng_seed=0)
