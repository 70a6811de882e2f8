"""``pixelcnn.train``: the README's snippet as printed, every data source trains the same weights, resume from a
state equals an uninterrupted run, DVCLive records each epoch once, and bad input is one sentence."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

import pixelcnn
from pixelcnn.errors import CheckpointError, DataError, InputError
from pixelcnn.models.prior import level_config
from pixelcnn.training.trainer import Trainer

from helpers import blobs, doc_block, logged, write_prepared

CONFIG = pixelcnn.PixelCNNConfig(channels=1, height=8, width=8, hidden=8, skip=8, layers=2, kernel=3, num_classes=3)
FAST = dict(epochs=2, batch_size=8, lr=3e-3, precision="fp32", device="cpu")


def fresh(config: pixelcnn.PixelCNNConfig = CONFIG) -> pixelcnn.PixelCNN:
    torch.manual_seed(0)
    return pixelcnn.PixelCNN(config)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Pairs(Dataset):
    """A user's Dataset: (uint8 tensor (C, H, W), int label) items."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.images[i]), int(self.labels[i])


def test_readme_train_snippet_runs_as_written(tmp_path, monkeypatch, capsys):
    code = doc_block("pixelcnn.train(")
    assert len([line for line in code.splitlines() if line.strip()]) <= 8
    monkeypatch.chdir(tmp_path)
    np.save("my_images.npy", np.concatenate([blobs(8, 0, 28), blobs(8, 1, 28)]))  # 16 tiny "images of your own"
    np.save("my_labels.npy", np.arange(16) % 10)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "mine.png").is_file()
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:-1]] == [f"train pixelcnn epoch {e}/5" for e in range(1, 6)]  # a line per epoch
    bits = float(out[-1].split()[0])
    assert 0 < bits < 9
    figures = logged(tmp_path / "runs" / "mine")
    assert [step for step, _ in figures["train_bpd"]] == [1, 2, 3, 4, 5]
    assert json.loads((tmp_path / "runs" / "mine" / "metrics.json").read_text())["train_bpd"] == bits


def test_train_arrays_a_dataset_and_the_prepared_folder_train_the_same_weights(tmp_path):
    """Three sources of the same rows, one batch order: the same bytes (ArrayRows = DatasetRows = NpyRows)."""
    data = write_prepared(tmp_path / "prepared")  # 40 train, 12 test blobs, labels i % 3
    train_x, train_y = np.load(data / "train_images.npy"), np.load(data / "train_labels.npy")
    test_x, test_y = np.load(data / "test_images.npy"), np.load(data / "test_labels.npy")
    folder, arrays, tensors, dataset = fresh(), fresh(), fresh(), fresh()
    a = pixelcnn.train(folder, data, **FAST, progress=False)
    b = pixelcnn.train(arrays, train_x, train_y, test=(test_x, test_y), **FAST, progress=False)
    pixelcnn.train(tensors, torch.from_numpy(train_x), torch.from_numpy(train_y), test=(test_x, test_y), **FAST, progress=False)
    pixelcnn.train(dataset, Pairs(train_x, train_y), test=Pairs(test_x, test_y), **FAST, progress=False)
    assert same(weights(folder), weights(arrays)) and same(weights(folder), weights(tensors))
    assert same(weights(folder), weights(dataset))
    assert a.history == b.history and [row["epoch"] for row in a.history] == [1, 2] and "test_bpd" in a.metrics
    assert not folder.training  # left in eval mode, holding the output weights


def test_train_without_a_test_split_reports_the_training_figures(tmp_path):
    result = pixelcnn.train(fresh(), blobs(16, 0), np.arange(16) % 3, **FAST, progress=False)
    assert set(result.history[-1]) == {"epoch", "lr", "train_bpd"} and result.metrics == result.history[-1]


def test_train_resumes_from_its_state_to_the_weights_of_a_run_never_interrupted(tmp_path, monkeypatch):
    x, y = blobs(32, 0), np.arange(32) % 3
    settings = dict(FAST, epochs=3, ema_decay=0.9, run=pixelcnn.RunConfig(checkpoint_every=2), progress=False)
    whole = fresh()
    pixelcnn.train(whole, x, y, **settings)
    step, calls = Trainer._step, {"n": 0}

    def interrupted(self, *args):
        calls["n"] += 1
        if calls["n"] == 7:  # mid-epoch 2, after the state of step 6
            raise KeyboardInterrupt
        return step(self, *args)

    monkeypatch.setattr(Trainer, "_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pixelcnn.train(fresh(), x, y, state=tmp_path / "state", log=tmp_path / "live", **settings)
    monkeypatch.setattr(Trainer, "_step", step)
    torch.manual_seed(1)
    resumed = pixelcnn.PixelCNN(CONFIG)  # other initial weights: the state replaces them
    result = pixelcnn.train(resumed, x, y, state=tmp_path / "state", log=tmp_path / "live", **settings)
    assert result.runs["pixelcnn"].resumed_from_step == 6
    assert same(weights(resumed), weights(whole))
    assert all([s for s, _ in rows] == [1, 2, 3] for rows in logged(tmp_path / "live").values())  # each epoch once
    assert (tmp_path / "state" / "pixelcnn.pt").is_file()  # kept: the caller deletes it to start over


def test_train_a_vqvae_then_its_prior_on_images(tmp_path):
    x, y = blobs(24, 0), np.arange(24) % 3
    torch.manual_seed(0)
    vqvae = pixelcnn.VQVAE(pixelcnn.VQVAEConfig(image_size=8, hidden=8, res_blocks=1, res_hidden=4, codebook_size=8,
                                                code_dim=4, bottom_downsample=2, top_downsample=2))
    pixelcnn.train(vqvae, x, **FAST, progress=False)
    shapes = dict(zip(vqvae.level_names, vqvae.code_shapes))
    template = pixelcnn.PixelCNNConfig(levels=8, hidden=8, skip=8, layers=2, embed_dim=4, num_classes=3)
    levels = tuple(level_config(template, pixelcnn.CondNetConfig(hidden=6, blocks=1), name, 8, shapes[name], 3,
                                shapes["top"] if name == "bottom" else None) for name in vqvae.level_names)
    prior = pixelcnn.CodePrior(pixelcnn.CodePriorConfig(vqvae.fingerprint(), levels))
    result = pixelcnn.train(prior, x, y, vqvae=vqvae, test=(x[:8], y[:8]), **FAST, progress=False, log=tmp_path / "live")
    assert list(result.runs) == ["top", "bottom"] and {"top/test_bits_per_code", "bottom/test_bits_per_code"} <= set(result.metrics)
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert {"top/train_bits_per_code", "bottom/test_bits_per_code"} <= set(logged(tmp_path / "live"))
    assert set(json.loads((tmp_path / "live" / "metrics.json").read_text())) == {"top", "bottom", "step"}
    other = pixelcnn.VQVAE(vqvae.config)
    with pytest.raises(CheckpointError, match=r"^the prior was trained on codes of autoencoder \w+, but vqvae= is autoencoder"):
        pixelcnn.train(prior, x, y, vqvae=other, **FAST, progress=False)


@pytest.mark.parametrize("call, sentence", [
    (lambda m: pixelcnn.train(m, blobs(8, 0).astype(np.float32), np.zeros(8, int)),
     "data must be uint8 in [0, 255], got dtype float32; convert it (e.g. (x * 255).round().astype(np.uint8))"),
    (lambda m: pixelcnn.train(m, blobs(8, 0).transpose(0, 2, 3, 1), np.zeros(8, int)),
     "data has images of shape (8, 8, 1) (C, H, W) but the model takes (1, 8, 8); it looks like (N, H, W, C): transpose it "
     "with .transpose(0, 3, 1, 2)"),
    (lambda m: pixelcnn.train(m, blobs(8, 0)),
     "the PixelCNN is conditioned on 3 classes: pass the labels of data, int (N,) in [0, 3)"),
    (lambda m: pixelcnn.train(m, blobs(8, 0), np.full(8, 3)),
     "label 3 of data is out of range: the PixelCNN knows 3 classes (0..2)"),
    (lambda m: pixelcnn.train(m, blobs(8, 0), np.zeros(8, int), epoch=3),
     "train() has no setting 'epoch'; did you mean epochs? its settings are OptimConfig's fields: epochs, batch_size, lr, "
     "schedule, warmup_steps, lr_decay, weight_decay, grad_clip, ema_decay, val_fraction, patience, precision, channels_last, compile, device"),
    (lambda m: pixelcnn.train(m, blobs(8, 0), np.zeros(8, int), cond_dropout=0.1),
     'cond_dropout > 0 needs a model with the "no class" label: build it with null_class=True (and num_classes > 0)'),
    (lambda m: pixelcnn.train(torch.nn.Linear(2, 2), blobs(8, 0)),
     "train() takes a PixelCNN, VQVAE, CodePrior or Classifier of this package, got Linear"),
])
def test_train_bad_input_is_one_sentence(call, sentence):
    with pytest.raises(InputError) as info:
        call(fresh())
    assert str(info.value) == sentence


def test_train_on_a_dataset_of_float_tensors_says_which_transform_to_use():
    class Floats(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.zeros(1, 8, 8), 0

    with pytest.raises(DataError, match=r"^dataset item 0: the image is float32, not uint8 in \[0, 255\]; give the dataset "
                                        r"transforms\.PILToTensor\(\) \(not ToTensor\(\), which scales to floats\)"):
        pixelcnn.train(fresh(), Floats(), device="cpu")


@pytest.mark.slow  # a subprocess importing the library, DVCLive and git
def test_train_logging_outside_dvc_creates_no_dvc_repository(tmp_path):
    """DVCLive alone would `dvc init` a Git repository without DVC; a training log must not touch the user's repository."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    code = ("import numpy as np, pixelcnn\n"
            "m = pixelcnn.PixelCNN(pixelcnn.PixelCNNConfig(height=8, width=8, hidden=4, skip=4, layers=1))\n"
            "pixelcnn.train(m, np.zeros((8, 1, 8, 8), np.uint8), epochs=1, batch_size=8, device='cpu', log='live', progress=False)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC")}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert (tmp_path / "live" / "metrics.json").is_file()
    assert not (tmp_path / ".dvc").exists() and sorted(p.name for p in tmp_path.iterdir()) == [".git", "live"]


def test_models_name_other_repositories_keywords_and_show_how_to_write_them():
    with pytest.raises(InputError) as info:
        pixelcnn.PixelCNN(in_channels=3, hidden_channels=48, n_layers=5)
    assert str(info.value) == (
        "PixelCNN takes one PixelCNNConfig, got in_channels=, hidden_channels=, n_layers=: write "
        "PixelCNN(PixelCNNConfig(channels=3, hidden=48, layers=5)) (in_channels is channels here; hidden_channels is hidden "
        "here; n_layers is layers here); the fields and their meaning are in pixelcnn.configs.PixelCNNConfig")
    with pytest.raises(InputError, match=r"^VQVAE takes one VQVAEConfig, got num_embeddings=: write "
                                         r"VQVAE\(VQVAEConfig\(codebook_size=512\)\) \(num_embeddings is codebook_size here\)"):
        pixelcnn.VQVAE(num_embeddings=512)
    with pytest.raises(InputError, match=r"^PixelCNN takes one PixelCNNConfig, got dict: write PixelCNN\(PixelCNNConfig\(\.\.\.\)\)"):
        pixelcnn.PixelCNN({"channels": 1})
