# SPDX-License-Identifier: Apache-2.0
# Runs every ```python block of docs/python.md, so the worked examples stay true; blocks that
# import torch are skipped (with the reason) when torch is not installed.
import importlib.util
import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "python.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if DOC.exists() else []
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def test_doc_has_examples():
    if not DOC.exists():
        pytest.skip("docs/python.md is not beside this test tree")
    assert len(BLOCKS) >= 4
    assert any("import torch" in b for b in BLOCKS) and any("import numpy" in b for b in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_example_runs(index, capsys):
    code = BLOCKS[index]
    if "import torch" in code and not HAVE_TORCH:
        pytest.skip("torch is not installed: the PyTorch example in docs/python.md is not run")
    exec(compile(code, f"docs/python.md block {index}", "exec"), {"__name__": "__doc_example__"})
    printed = capsys.readouterr().out
    for comment in re.findall(r"print\(e\)\s+# (.*)\n", code):  # "message (...)" = a prefix
        assert comment.split("(...)")[0].rstrip() in printed, comment
