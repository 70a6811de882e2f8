"""Type checking: CI runs `uv run pyright` over src/ (pyproject.toml's [tool.pyright], strictness "standard") before the
tests. What a test can hold cheaply: the configuration stays, and every silenced finding says which rule and why."""

from __future__ import annotations

import re
import tomllib

from helpers import ROOT

IGNORE = re.compile(r"#\s*(type|pyright):\s*ignore(\[[\w, ]+\])?(.*)")


def test_typing_pyright_checks_the_library_at_standard_strictness_or_above():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pyright"]
    assert config["include"] == ["src"]
    assert config["typeCheckingMode"] in ("standard", "strict")
    assert "pyright" in (ROOT / ".ci" / "run").read_text()


def test_typing_every_ignore_names_its_rule_and_a_reason():
    found = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = IGNORE.search(line)
            if match is None:
                continue
            kind, rule, reason = match.groups()
            where = f"{path.relative_to(ROOT)}:{number}"
            assert kind == "pyright" and rule, f"{where}: write `# pyright: ignore[rule]` with the rule it silences"
            assert len(reason.strip(" ()#")) >= 10, f"{where}: say in a few words why the finding is wrong"
            found.append(where)
    assert len(found) <= 5, f"{len(found)} silenced findings; fix them instead: {found}"
