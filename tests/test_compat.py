"""Names from other PixelCNN repositories answer with one sentence naming this project's call, and the
docs' "Coming from" table (docs/python-api.md) lists only names that do."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import pixelcnn
from pixelcnn import compat
from pixelcnn.errors import UserError

from helpers import ROOT


@pytest.mark.parametrize("name", sorted(compat.PACKAGE))
def test_names_of_other_repositories_say_what_to_use(name):
    with pytest.raises(compat.RenamedError) as info:
        getattr(pixelcnn, name)
    assert str(info.value) == f"pixelcnn has no {name}, a name from another PixelCNN repository; here, use {compat.PACKAGE[name]}"
    assert isinstance(info.value, UserError) and isinstance(info.value, ImportError)


def test_names_from_import_keeps_the_sentence():
    """``from pixelcnn import X`` shows the sentence, not Python's bare "cannot import name"."""
    with pytest.raises(ImportError, match=r"^pixelcnn has no PixelCNNSampler, .* here, use pixelcnn\.generate\(model, n, "):
        from pixelcnn import PixelCNNSampler  # noqa: F401
    with pytest.raises(AttributeError, match=r"^module 'pixelcnn' has no attribute 'Nothing'$"):
        pixelcnn.Nothing  # noqa: B018  (an unknown name stays a plain AttributeError)
    assert not hasattr(pixelcnn, "Nothing")


@pytest.mark.slow  # a fresh interpreter imports the package
def test_names_exports_are_the_models_configs_and_functions_and_import_stays_cheap():
    code = ("import sys, pixelcnn\n"
            "assert 'torch' not in sys.modules\n"
            "from pixelcnn import PixelCNN, PixelCNNConfig, VQVAE, VQVAEConfig, CodePrior, CodePriorConfig, Classifier\n"
            "from pixelcnn import generate, load, train, evaluate, OptimConfig, EvaluateConfig, SamplingOptions\n"
            "assert callable(generate) and callable(load) and callable(train) and callable(evaluate)\n"
            "assert not [m for m in ('dvclive', 'dvc', 'torch_fidelity', 'lpips', 'torchvision') if m in sys.modules]\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_names_methods_of_other_repositories_say_what_to_use():
    vqvae = pixelcnn.VQVAE(pixelcnn.VQVAEConfig(image_size=8, bottom_downsample=2, top_downsample=2, hidden=4,
                                                res_hidden=2, codebook_size=4, code_dim=2))
    with pytest.raises(compat.RenamedMethod, match=r"^VQVAE has no get_code_indices, .* here, use vqvae\.encode\(x\)"):
        vqvae.get_code_indices(None)
    model = pixelcnn.PixelCNN(pixelcnn.PixelCNNConfig(height=4, width=4, hidden=2, skip=2, layers=1))
    with pytest.raises(compat.RenamedMethod, match=r"^PixelCNN has no generate, a name from another PixelCNN repository; here, use "
                                                   r"pixelcnn\.generate\(model, n, labels=\.\.\., temperature=\.\.\.\) \(the exact "
                                                   r"cached sampler; the shape is the config's\)$"):
        model.generate((1, 4, 4), 16)  # generate(shape, n) elsewhere; models do not sample themselves here
    with pytest.raises(UserError, match=r"^generate takes the number of images, not a shape \(got \(1, 4, 4\)\): the model "
                                        r"draws 1×4×4 images; write pixelcnn\.generate\(model, n, temperature=\.\.\.\)$"):
        pixelcnn.generate(model, (1, 4, 4))
    for method in ("generate_samples", "sample"):
        with pytest.raises(compat.RenamedMethod, match=rf"^PixelCNN has no {method}, .* here, use pixelcnn\.generate\(model, n"):
            getattr(model, method)(4)


def test_names_the_docs_coming_from_table_lists_answered_names():
    page = (ROOT / "docs" / "python-api.md").read_text()
    table = page.split("## Coming from another PixelCNN repository", 1)[1].split("\n\n", 2)[1]
    theirs = [row.split("|")[1] for row in table.splitlines()[2:]]
    assert len(theirs) >= 8
    spelled = {re.match(r"\s*`(?:\w+\.)?(\w+)", cell).group(1) for cell in theirs}
    answered = set(compat.PACKAGE) | {"PixelCNN", "generate"}  # PixelCNN(in_channels=...) and model.generate answer too
    assert spelled <= answered, sorted(spelled - answered)
