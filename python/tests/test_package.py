# SPDX-License-Identifier: Apache-2.0
# The installed package: public names with docstrings, the _C type stub in step with the
# extension, PEP 561 marker, version, and the optional torch module's message without torch.
import ast
import importlib.metadata
import importlib.util
import pathlib

import pytest

import attnkit
from attnkit import _C

PKG = pathlib.Path(attnkit.__file__).parent


def test_public_names_have_docstrings():
    for name in attnkit.__all__:
        obj = getattr(attnkit, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__) > 20, name
    for name in ("attention", "attention_varlen"):
        assert "Returns" in getattr(attnkit, name).__doc__
    assert "(B, Nq, Hq, Dqk)" in attnkit.attention.__doc__
    assert "(Tq, Hq, Dqk)" in attnkit.attention_varlen.__doc__


def test_stub_matches_extension():
    tree = ast.parse((PKG / "_C.pyi").read_text())
    top, methods = set(), {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            top.add(node.target.id)
        elif isinstance(node, ast.ClassDef):
            top.add(node.name)
            methods[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    public = lambda names: {n for n in names if not n.startswith("_") or n == "__version__"}  # noqa: E731
    assert top == public(dir(_C))
    for cls, names in methods.items():
        assert names - {"__init__"} == public(dir(getattr(_C, cls))), cls


def test_typed_package_and_version():
    assert (PKG / "py.typed").exists()
    assert attnkit.__version__ == importlib.metadata.version("attnkit")


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_torch_ops_without_torch_says_what_to_install():
    with pytest.raises(ImportError, match=r"attnkit.torch_ops needs PyTorch \(pip install torch\)"):
        import attnkit.torch_ops  # noqa: F401
