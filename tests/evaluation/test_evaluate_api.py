"""``pixelcnn.evaluate``: the README's snippet as printed, the stage's figures, class accuracy, one-sentence errors.

Legend: N images, K classes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scoring_fakes import certain_classifier, levelled, offline, stage_inputs  # noqa: F401  (offline: autouse, no network)

import pixelcnn
from pixelcnn.configs import EvaluateConfig
from pixelcnn.errors import InputError

from helpers import doc_block, stage

SMALL = EvaluateConfig(num_samples=50, kid_subset_size=20, kid_subsets=5, lpips_pairs=10, device="cpu")


def test_readme_evaluate_snippet_runs_as_written(tmp_path, monkeypatch, capsys):
    """On a run laid out like the default one: a classifier right on every image, samples drawn for their classes."""
    _, levels = certain_classifier(tmp_path / "models" / "classifier.pt", 4)
    (tmp_path / "data" / "prepared").mkdir(parents=True)
    (tmp_path / "data" / "samples" / "prior").mkdir(parents=True)
    test_labels = np.arange(40) % 4
    np.save(tmp_path / "data" / "prepared" / "test_images.npy", levelled(test_labels, 1, levels))
    np.save(tmp_path / "data" / "prepared" / "test_labels.npy", test_labels)
    classes = np.arange(20) % 4
    np.save(tmp_path / "data" / "samples" / "prior" / "samples.npy", levelled(classes, 2, levels))
    np.save(tmp_path / "data" / "samples" / "prior" / "labels.npy", np.where(np.arange(20) < 15, classes, (classes + 1) % 4))
    monkeypatch.chdir(tmp_path)
    exec(compile(doc_block("pixelcnn.evaluate("), "README.md", "exec"), {})
    fid, accuracy = capsys.readouterr().out.splitlines()[-1].split(", class accuracy ")  # after the library's log lines
    assert float(fid.removeprefix("FID ")) >= 0 and accuracy == "75.0%"  # 15 of 20 drawn for the class they look like


def test_evaluate_returns_the_stages_figures(tmp_path):
    argv = stage_inputs(tmp_path, "  num_samples: 50\n  kid_subset_size: 20\n  kid_subsets: 5\n  lpips_pairs: 10\n  device: cpu\n")
    stage("evaluate")(argv)
    written = json.loads((tmp_path / "eval.json").read_text())
    sets = {"floor": np.load(tmp_path / "prepared" / "train_images.npy")}
    labels = {}
    for name in ("pixelcnn", "prior"):
        sets[name] = np.load(tmp_path / "samples" / name / "samples.npy")
        labels[name] = np.load(tmp_path / "samples" / name / "labels.npy")
    scores = pixelcnn.evaluate(sets, np.load(tmp_path / "prepared" / "test_images.npy"), labels=labels,
                               reference_labels=np.load(tmp_path / "prepared" / "test_labels.npy"),
                               classifier=tmp_path / "classifier.pt", config=SMALL, generator=torch.Generator().manual_seed(0))
    assert scores == {k: v for k, v in written.items() if k in scores}  # the same numbers, bit for bit
    assert set(written) - set(scores) == {"floor.class_accuracy", "pixelcnn.test_bpd", "prior.top.test_bits_per_code",
                                          "prior.bottom.test_bits_per_code"}  # what the stage adds
    one = pixelcnn.evaluate(torch.from_numpy(sets["prior"]), np.load(tmp_path / "prepared" / "test_images.npy"),
                            labels=torch.from_numpy(labels["prior"]), reference_labels=np.arange(40) % 4,
                            classifier=tmp_path / "classifier.pt", config=SMALL)
    assert one["class_accuracy"] == 0.5 and one["lpips_alex_diversity"] is None and "fid" in one


def test_evaluate_class_accuracy_is_the_share_drawn_for_the_class_it_looks_like(tmp_path):
    space, levels = certain_classifier(tmp_path / "c.pt", 4)
    reference = levelled(np.arange(40) % 4, 1, levels)
    looks = np.random.RandomState(0).randint(0, 4, 30)
    samples = levelled(looks, 2, levels)
    for right in (0, 10, 30):
        drawn_for = np.where(np.arange(30) < right, looks, (looks + 1) % 4)
        scores = pixelcnn.evaluate(samples, reference, labels=drawn_for, reference_labels=np.arange(40) % 4,
                                   classifier=space.weights_path, config=SMALL)
        assert scores["class_accuracy"] == right / 30
    unlabelled = pixelcnn.evaluate(samples, reference, reference_labels=np.arange(40) % 4, classifier=space.weights_path,
                                   config=SMALL)
    assert "class_accuracy" not in unlabelled and unlabelled["fid"] == scores["fid"]  # the other figures do not move


@pytest.mark.parametrize("kwargs, sentence", [
    (dict(classifier="c.pt"), "the classifier's features need reference_labels= (its accuracy on the reference is checked "
                              "before its features are trusted)"),
    (dict(features="classifier"), "features='classifier' needs classifier= (a train_classifier checkpoint); or use features='inception'"),
    (dict(labels=np.zeros(3, int), classifier="c.pt", reference_labels=np.zeros(8, int)),
     "labels must be integers, one per image (8,), got int64 (3,)"),
])
def test_evaluate_bad_arguments_are_one_sentence(kwargs, sentence):
    images = np.zeros((8, 1, 8, 8), np.uint8)
    with pytest.raises(InputError) as info:
        pixelcnn.evaluate(images, images, **kwargs)
    assert str(info.value) == sentence
    with pytest.raises(InputError, match=r"^samples must be uint8 images \(N, C, H, W\) with N >= 1, got float32 \(8, 1, 8, 8\)$"):
        pixelcnn.evaluate(images.astype(np.float32), images)
