"""Interactive demo over the trained models: `uv run streamlit run demo/app.py`.

Pick a generator (the pixel PixelCNN, or the VQ-VAE-2 + PixelCNN prior) and
the sampling knobs in the sidebar; the tabs sample a grid, draw it row by
row, complete a test or uploaded image below its kept rows, and compare both
generators with their scores from metrics/eval.json. Everything goes through
the public API (``pixelcnn.load`` and the pipelines).

Paths default to the pipeline's outputs, relative to the project root; the
sidebar's "Files" section or these environment variables change them:
PIXELCNN_PIXEL_MODEL, PIXELCNN_PRIOR, PIXELCNN_VQVAE, PIXELCNN_METRICS,
PIXELCNN_DATA.

The demo opens files only inside the project's ``models/``, ``metrics/`` and
``data/`` folders (``SERVED``): a path elsewhere, typed in the sidebar by
anyone who reaches the page, gets one sentence that says nothing of whether
the file exists. The project root is the working directory, or the one given
at launch: ``PIXELCNN_ROOT=/path/to/project`` or ``streamlit run demo/app.py
-- --root /path/to/project``. Uploaded images are refused above
``MAX_IMAGE_SIDE``² pixels from their header, before they are decoded. A
path with a control character (a NUL byte) or too long a name gets one
sentence too, before anything is resolved. Streamlit listens on localhost
only, shows a visitor no traceback (an unexpected error prints in the
console) and sends no usage statistics (``.streamlit/config.toml``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from PIL import Image

import pixelcnn
from pixelcnn.configs import Sampler
from pixelcnn.data.prepared import PreparedMeta
from pixelcnn.errors import UserError
from pixelcnn.pipelines.base import Pipeline, grid_image
from pixelcnn.pipelines.inputs import open_image

FILES = {  # key → (label, environment variable, default)
    "pixel": ("Pixel PixelCNN checkpoint", "PIXELCNN_PIXEL_MODEL", "models/pixelcnn.pt"),
    "prior": ("Prior checkpoint", "PIXELCNN_PRIOR", "models/prior.pt"),
    "vqvae": ("VQ-VAE checkpoint", "PIXELCNN_VQVAE", "models/vqvae.pt"),
    "metrics": ("Scores (evaluate)", "PIXELCNN_METRICS", "metrics/eval.json"),
    "data": ("Prepared data", "PIXELCNN_DATA", "data/prepared"),
}
SERVED = ("models", "metrics", "data")  # the project's folders whose files the demo may open
EVERY_CLASS = "every class in turn"
TILE = 96  # on-screen size of one image, in pixels (small images are enlarged by nearest neighbour)
METRICS = {  # eval.json key suffix → row name
    "fid": "FID ↓", "is_mean": "Inception Score ↑", "kid_mean": "KID ↓", "precision": "precision ↑",
    "recall": "recall ↑", "lpips_alex_diversity": "LPIPS diversity ↑",
    "class_accuracy": "class accuracy ↑",  # share of samples the classifier puts in the class they were drawn for
}


# ----------------------------------------------------------------------------- cached work


def _stamp(*paths: Path) -> tuple:
    """Changes when a file is rewritten (e.g. by `dvc repro`), so caches reload it."""
    return tuple((str(p), p.stat().st_mtime_ns) for p in paths)


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def load_pipeline(model: str, vqvae: str | None, stamp: tuple) -> Pipeline:
    return pixelcnn.load(model, vqvae=vqvae)


@st.cache_data(show_spinner="Sampling…", max_entries=64)
def sample(_pipe: Pipeline, stamp: tuple, n: int, labels, temperature: float, top_k: int, top_p: float, guidance: float,
           seed: int, sampler: str):
    """(images uint8 (n, C, H, W), labels (n,), seconds), cached per model and settings."""
    start = time.perf_counter()
    out = _pipe(n, labels=labels, temperature=temperature, top_k=top_k, top_p=top_p, guidance=guidance,
                generator=torch.Generator().manual_seed(seed), sampler=sampler)
    return out.images, out.labels, time.perf_counter() - start


@st.cache_data(show_spinner="Completing…", max_entries=64)
def complete(_pipe: Pipeline, stamp: tuple, image: np.ndarray, rows: int, labels, temperature: float, top_k: int,
             top_p: float, guidance: float, seed: int, sampler: str):
    """Completions (n, C, H, W) of one image (C, H, W), one per label (or n = len(labels))."""
    images = np.repeat(image[None], len(labels), axis=0)
    out = _pipe.complete(images, rows, labels=None if labels[0] is None else list(labels), temperature=temperature,
                         top_k=top_k, top_p=top_p, guidance=guidance, generator=torch.Generator().manual_seed(seed), sampler=sampler)
    return out.images, out.labels


@st.cache_data(max_entries=4)
def read_test_split(data: str, stamp: tuple):
    from pixelcnn.data.prepared import load_split

    test = load_split(data, "test")
    return np.asarray(test.images), np.asarray(test.labels), test.meta


# ----------------------------------------------------------------------------- helpers


def tiles(images: np.ndarray) -> list[Image.Image]:
    """uint8 (N, C, H, W) → one PIL image each, enlarged to about TILE pixels."""
    scale = max(1, TILE // images.shape[-1])
    pictures = [Image.fromarray(x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0)) for x in images]  # (H, W[, 3])
    return [p.resize((p.width * scale, p.height * scale), Image.NEAREST) for p in pictures]


def grid(images: np.ndarray, nrow: int | None = None) -> Image.Image:
    return grid_image(images, nrow, max(1, TILE // images.shape[-1]))


def png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def read_metrics(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) else None


# ----------------------------------------------------------------------------- the files it serves


def project_root() -> Path:
    """The project whose files the demo serves: ``-- --root DIR``, else ``PIXELCNN_ROOT``, else the working directory."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--root")
    given, _ = parser.parse_known_args(sys.argv[1:])
    return Path(given.root or os.environ.get("PIXELCNN_ROOT") or ".").resolve()


def served(path: Path, root: Path) -> Path | None:
    """``path`` (relative to ``root``) as an absolute path when it lies in a SERVED folder of ``root``, else None.

    Decided from the path alone, before anything is opened or stat'ed: ``..`` cannot climb out, and a link
    may point elsewhere in the project (DVC's cache) but never outside it.
    """
    full = Path(os.path.normpath(root / path))
    if not any(full.is_relative_to(root / folder) for folder in SERVED) or not full.resolve().is_relative_to(root):
        return None
    cwd = Path.cwd()
    return full.relative_to(cwd) if full.is_relative_to(cwd) else full  # as the default paths read: models/pixelcnn.pt


def unusable(key: str, typed: str, root: Path) -> str | None:
    """One sentence when the text typed for ``key`` cannot name a file, else None.

    Decided from the text alone, before the path is resolved or opened: a
    control character (Python refuses a NUL byte with an exception), a
    character with no encoding as a file name, or a name longer than the
    project's file system takes (``ENAMETOOLONG`` from any later call).
    """
    label, _, default = FILES[key]
    control = next((c for c in typed if ord(c) < 32 or ord(c) == 127), None)
    if control is not None:
        return (f"The {label} path holds a control character (U+{ord(control):04X}), which no file name here may hold; "
                f"type a plain path, such as {default}")
    try:
        encoded = os.fsencode(os.path.join(root, typed))
    except UnicodeError:
        return f"The {label} path holds a character that no file name here may hold; type a plain path, such as {default}"
    longest = max((len(part) for part in encoded.split(b"/")), default=0)
    if longest > os.pathconf(root, "PC_NAME_MAX") or len(encoded) >= os.pathconf(root, "PC_PATH_MAX"):
        return f"The {label} path is longer than this system allows for a file name; type a shorter one, such as {default}"
    return None


def checked_paths(typed: dict[str, Path], root: Path) -> tuple[dict[str, Path | None], dict[str, str]]:
    """Each typed path as ``served`` gives it (None: never opened), and one sentence for each that is not served."""
    paths, sentences = {}, {}
    for key, path in typed.items():
        problem = unusable(key, str(path), root)
        paths[key] = None if problem else served(path, root)
        if paths[key] is None:
            sentences[key] = problem or outside(path)
    return paths, sentences


def outside(path: Path) -> str:
    """The one sentence for any path outside the served folders, whether or not a file is there."""
    folders = ", ".join(f"{folder}/" for folder in SERVED)
    return (f"{path} is outside the folders this demo serves ({folders} of its project); "
            "pick a file there, or start the demo on another project with PIXELCNN_ROOT")


# ----------------------------------------------------------------------------- the page


def sidebar_paths() -> dict[str, Path]:
    """The paths of the "Files" section, as typed."""
    with st.sidebar.expander("Files"):
        return {key: Path(st.text_input(label, os.environ.get(env, default), key=f"path_{key}"))
                for key, (label, env, default) in FILES.items()}


def load_generators(paths: dict[str, Path | None]) -> tuple[dict[str, tuple[Pipeline, tuple]], list[str]]:
    """Loadable generators by title (with their file stamps), and sentences about the others.

    ``paths`` are served paths: None (outside the served folders, said elsewhere) is never opened.
    """
    found, problems = {}, []
    candidates = [(paths["pixel"], None, False), (paths["prior"], paths["vqvae"], True)]
    for model, vqvae, needs_vqvae in candidates:
        if model is None or (needs_vqvae and vqvae is None):
            continue
        files = [p for p in (model, vqvae) if p is not None]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            problems.append(f"not found: {', '.join(missing)}")
            continue
        try:
            stamp = _stamp(*files)
            pipe = load_pipeline(str(model), None if vqvae is None else str(vqvae), stamp)
        except UserError as exc:
            problems.append(str(exc))
            continue
        found[pipe.title] = (pipe, stamp)
    return found, problems


def class_names(pipe: Pipeline, meta: PreparedMeta | None) -> list[str]:
    names = meta.class_names if meta is not None else ()
    return [str(n) for n in names] if len(names) == pipe.num_classes else [str(i) for i in range(pipe.num_classes)]


def main() -> None:
    st.set_page_config(page_title="pixelcnn demo", layout="wide")
    typed, root = sidebar_paths(), project_root()
    paths, refused = checked_paths(typed, root)  # None: unusable or outside, never opened
    problems = list(refused.values())
    generators, unloadable = load_generators(paths)
    problems += unloadable
    st.title("PixelCNN and VQ-VAE-2 + PixelCNN prior")
    if not generators:
        st.error(
            f"No trained models found ({typed['pixel']}, or {typed['prior']} with {typed['vqvae']}): "
            "run `uv run dvc repro` first, then reload this page."
        )
        for sentence in problems:
            st.caption(sentence)
        st.stop()
    for sentence in problems:
        st.sidebar.warning(sentence)

    test = None
    if paths["data"] is not None and (paths["data"] / "meta.json").is_file():
        try:
            test = read_test_split(str(paths["data"]), _stamp(paths["data"] / "test_images.npy"))
        except (UserError, OSError) as exc:
            st.sidebar.warning(f"{paths['data']}: {exc}")

    title = st.sidebar.radio("Generator", list(generators), key="generator")
    pipe, stamp = generators[title]
    names = class_names(pipe, test[2] if test else None)
    choice = st.sidebar.selectbox("Class", [EVERY_CLASS, *names], key="class") if pipe.num_classes else EVERY_CLASS
    label = None if choice == EVERY_CLASS else names.index(choice)
    knobs = dict(
        temperature=st.sidebar.slider("Temperature", 0.1, 2.0, 1.0, 0.05, key="temperature",
                                      help="below 1 sharpens every step's distribution, above 1 flattens it"),
        top_k=int(st.sidebar.number_input("Top-k", 0, pipe.values_per_step, 0, key="top_k",
                                          help="keep the k most likely values at each step; 0 keeps all")),
        top_p=st.sidebar.slider("Top-p", 0.05, 1.0, 1.0, 0.05, key="top_p",
                                help="nucleus: keep the smallest set of values with this much probability; 1 keeps all"),
        guidance=st.sidebar.slider("Guidance", 0.0, 6.0, 1.0, 0.25, key="guidance", disabled=not pipe.guidable,
                                   help="classifier-free guidance: above 1 holds each image to its class, 0 ignores the class"
                                   + ("" if pipe.guidable else " (this model was trained without cond_dropout: fixed at 1)")),
        seed=int(st.sidebar.number_input("Seed", 0, 2**31 - 1, 0, key="seed")),
        sampler=st.sidebar.selectbox("Sampler", [s.value for s in Sampler], key="sampler",
                                     help="; ".join(f"{s.value}: {s.description}" for s in Sampler)
                                     + " (the same images either way)"),
    )
    if not pipe.guidable:
        knobs["guidance"] = 1.0  # the slider is disabled: whatever it last held, this model samples unguided
    count = st.sidebar.slider("Count", 1, 64, 16, key="count")
    c, h, w = pipe.image_shape
    st.caption(f"{title}: {c}×{h}×{w} images, "
               f"{pipe.num_classes or 'no'} classes, on {pipe.device.type}. Same settings and seed, same images.")

    tab_sample, tab_progress, tab_complete, tab_compare = st.tabs(["Sample", "Progressive", "Complete", "Compare"])
    with tab_sample:
        show_samples(pipe, stamp, count, label, names, knobs)
    with tab_progress:
        show_progressive(pipe, count, label, names, knobs)
    with tab_complete:
        show_completion(pipe, stamp, count, label, names, knobs, test)
    with tab_compare:
        missing = (refused["metrics"] if paths["metrics"] is None else
                   f"{typed['metrics']} not found: `uv run dvc repro` scores both generators (FID, IS, KID, precision, recall).")
        show_comparison(generators, count, label, knobs, read_metrics(paths["metrics"]), typed["metrics"], missing)


def caption_of(labels: np.ndarray, names: list[str]) -> list[str]:
    return [f"class {names[y]}" if y >= 0 else "" for y in labels.tolist()]


def show_samples(pipe, stamp, count, label, names, knobs) -> None:
    try:
        images, labels, seconds = sample(pipe, stamp, count, label, **knobs)
    except UserError as exc:
        st.error(str(exc))
        return
    which = "" if label is None and not pipe.num_classes else (
        " of every class in turn" if label is None else f" of class {names[label]}")
    st.write(f"{count} samples{which}, drawn in {seconds:.2f} s.")
    st.image(tiles(images), caption=caption_of(labels, names))
    st.download_button("Download the grid (PNG)", png_bytes(grid(images)), "samples.png", "image/png", key="download")


def show_progressive(pipe, count, label, names, knobs) -> None:
    h = pipe.image_shape[1]
    every = st.slider("Rows between frames of the strip", 1, h, max(1, h // 8), key="every")
    if st.button("Draw row by row", key="progressive", type="primary"):
        status, bar, canvas = st.empty(), st.progress(0.0), st.empty()
        nrow = min(count, 8)

        def callback(progress) -> None:
            bar.progress(progress.fraction)
            status.write(f"{progress.level}: row {progress.row} of {progress.rows}")
            preview = progress.preview()
            if preview is not None:
                canvas.image(grid(preview, nrow))

        out = pipe(count, labels=label, temperature=knobs["temperature"], top_k=knobs["top_k"], top_p=knobs["top_p"],
                   guidance=knobs["guidance"], generator=torch.Generator().manual_seed(knobs["seed"]), sampler=knobs["sampler"], callback=callback,
                   frames_every=every, batch_size=count)
        st.session_state["strip"] = (pipe.title, out.frames)
    if st.session_state.get("strip", (None,))[0] == pipe.title:
        from pixelcnn.visuals.images import progress_strip

        frames = st.session_state["strip"][1]
        st.write(f"Each row: one image every {every} rows, left to right.")
        st.image(grid(progress_strip(frames), len(frames)))


def show_completion(pipe, stamp, count, label, names, knobs, test) -> None:
    c, h, w = pipe.image_shape
    sources = (["a test image"] if test is not None else []) + ["an uploaded image"]
    source = st.radio("Complete", sources, horizontal=True, key="complete_source")
    own = None
    if source == "a test image":
        images, labels, _ = test
        index = int(st.number_input(f"Test image (0..{len(images) - 1})", 0, len(images) - 1, 0, key="test_index"))
        image, own = images[index], int(labels[index])
    else:
        upload = st.file_uploader(f"An image (resized to {h}×{w})", type=["png", "jpg", "jpeg", "bmp", "gif"], key="upload")
        if upload is None:
            st.info("Upload an image to complete it.")
            return
        try:  # refused from its header above MAX_IMAGE_SIDE² pixels, before decoding
            picture = open_image(upload, upload.name).convert("L" if c == 1 else "RGB").resize((w, h), Image.LANCZOS)
        except UserError as exc:
            st.error(str(exc))
            return
        array = np.asarray(picture)
        image = array[None] if c == 1 else array.transpose(2, 0, 1)  # (C, H, W)
    rows = st.slider("Rows to keep", 0, h - 1, h // 2, key="rows")
    if not pipe.num_classes:
        labels = [None] * count
    elif label is not None or own is not None:
        labels = [label if label is not None else own] * count
    else:
        labels = [i % pipe.num_classes for i in range(count)]
    try:
        done, done_labels = complete(pipe, stamp, image, rows, tuple(labels), **knobs)
    except UserError as exc:
        st.error(str(exc))
        return
    kept = image.copy()
    kept[:, rows:] = 0
    st.image(tiles(np.stack([image, kept])), caption=["original", f"top {rows} rows kept"])
    st.write(f"{count} completions" + ("" if done_labels[0] < 0 else " (captions: the class each is drawn as)") + ":")
    st.image(tiles(done), caption=caption_of(done_labels, names))


def show_comparison(generators, count, label, knobs, metrics, metrics_path, missing: str) -> None:
    columns = st.columns(len(generators))
    for column, (title, (pipe, stamp)) in zip(columns, generators.items()):
        with column:
            st.subheader(title)
            try:
                images, _, seconds = sample(pipe, stamp, count, label, **knobs)
            except UserError as exc:
                st.error(str(exc))
                continue
            st.image(grid(images, min(count, 8)), caption=f"{count} samples in {seconds:.2f} s")
    if len(generators) < 2:
        st.info("Only one generator is trained here; `uv run dvc repro` trains both.")
    if metrics is None:
        st.info(missing)
        return
    import pandas as pd

    sets = {"pixelcnn": "pixel PixelCNN", "prior": "VQ-VAE-2 + prior", "floor": "data (train vs test)"}
    rows = {name: [metrics.get(f"{key}.{m}") for key in sets] for m, name in METRICS.items()}
    rows["bits/dim (test)"] = [metrics.get("pixelcnn.test_bpd"), None, None]
    for level in ("top", "bottom"):
        rows[f"bits/code, {level} (test)"] = [None, metrics.get(f"prior.{level}.test_bits_per_code"), None]
    shown = {name: ["–" if v is None else f"{v:.3f}" for v in values] for name, values in rows.items()
             if any(v is not None for v in values)}
    st.write(f"Scores of the generators' samples from {metrics_path} "
             "(classifier features on the default digits; see docs/results.md):")
    st.table(pd.DataFrame.from_dict(shown, orient="index", columns=list(sets.values())))

main()
