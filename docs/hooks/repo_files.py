"""MkDocs hook: the repository files the pages link to (``../metrics/...``, ``../MODEL_CARD.md``) join the site.

The pages link to files outside ``docs/`` by their path relative to the page, as on GitHub. MkDocs
only knows the files under ``docs/``, so each such link would be reported as broken; this hook adds
every existing target of a ``../`` link to the site under ``repo/`` (a Markdown file becomes a
page), and MkDocs rewrites the links to it. A link to a file that does not exist is not added, so
``mkdocs build --strict`` still fails on it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

LINK = re.compile(r"\]\((\.\./[^)\s#]+)")  # a Markdown link or image whose target leaves docs/


def on_files(files: Files, config) -> Files:
    docs = Path(config["docs_dir"])
    repo = docs.parent
    targets = set()
    for page in files.documentation_pages():
        src = Path(page.abs_src_path)
        for link in LINK.findall(src.read_text(encoding="utf-8")):
            target = (src.parent / link).resolve()
            if target.is_file() and repo in target.parents and docs not in target.parents:
                targets.add(target)
    for target in sorted(targets):
        rel = target.relative_to(repo).as_posix()
        file = File.generated(config, f"../{rel}", abs_src_path=str(target), inclusion=InclusionLevel.INCLUDED)
        file.dest_uri = f"repo/{rel[:-3]}/index.html" if rel.endswith(".md") else f"repo/{rel}"
        files.append(file)
    return files
