"""Every Python code block of the documentation runs as pasted, alone.

Blocks (fenced ```python or ```py) come from:

- `README.md`, `docs/*.md` and `examples/*.md`;
- the docstrings of the public API: the package docstring, every name in
  `kt_twostage.__all__` and in the `__all__` of each public subpackage
  (`kt_twostage.<name>` packages that define one), and the methods and
  properties those classes define.

Each block is written to a file and run by a fresh Python interpreter, on its
own, in an empty temporary working directory (so `directory="runs"` lands
there), with `KERAS_HOME` in a temporary folder (the tokenized IMDB cache) and
without `KT_TWOSTAGE_IMDB` or Keras Tuner's distributed variables. Nothing is
injected: a block imports what it uses and makes its own data (random numbers,
or the built-in IMDB sample), as a reader who pastes it would. The text of a
block is never changed. A block that uses a name it neither defines nor
imports fails before it runs, and so does one that names an absolute path (it
would write outside its working directory).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kt_twostage

ROOT = Path(__file__).parents[1]
# Each block runs in seconds; the limit only stops one that hangs.
BLOCK_TIMEOUT_S = 600
MARKDOWN = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "examples").glob("*.md")),
]
FENCE = re.compile(r"^```(?:python|py)[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


# --------------------------------------------------------------------------- #
# Collecting the blocks.
# --------------------------------------------------------------------------- #
class Block:
    def __init__(self, source, line, code):
        self.source = source  # "README.md" or "kt_twostage.TwoStageTuner"
        self.line = line  # line of the block in its file or docstring
        self.code = code

    @property
    def id(self):
        return f"{self.source}:{self.line}"


def blocks_in_text(source, text):
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 2
        yield Block(source, line, match.group(1))


def markdown_blocks():
    for path in MARKDOWN:
        yield from blocks_in_text(
            str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")
        )


def public_objects():
    """`(qualified name, object)` of the public API whose docstrings count."""
    yield "kt_twostage", kt_twostage
    for name in kt_twostage.__all__:
        yield f"kt_twostage.{name}", getattr(kt_twostage, name)
    for info in pkgutil.iter_modules(kt_twostage.__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module_name = f"kt_twostage.{info.name}"
        module = importlib.import_module(module_name)
        yield module_name, module
        for name in getattr(module, "__all__", ()):
            yield f"{module_name}.{name}", getattr(module, name)


def members(name, obj):
    """The object, and for a class the methods and properties it defines."""
    yield name, obj
    if not inspect.isclass(obj):
        return
    for member_name, member in vars(obj).items():
        if member_name.startswith("_") and member_name != "__init__":
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            member = member.fget
        if inspect.isfunction(member):
            yield f"{name}.{member_name}", member


def docstring_blocks():
    seen = set()
    for name, obj in public_objects():
        for qualified, member in members(name, obj):
            # The object's own docstring (not one inherited from Keras Tuner).
            doc = getattr(member, "__doc__", None)
            if not isinstance(doc, str) or id(doc) in seen:
                continue
            seen.add(id(doc))
            yield from blocks_in_text(qualified, inspect.cleandoc(doc))


def collect():
    blocks = list(markdown_blocks())
    try:
        blocks += list(docstring_blocks())
    except Exception as error:  # noqa: BLE001 - reported as a failing block
        blocks.append(Block("import of the public API", 0, f"raise {error!r}"))
    return blocks


BLOCKS = collect()


def free_names(tree):
    """Names a block reads but neither assigns, imports nor defines."""
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound - set(dir(builtins))


def absolute_paths(tree):
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("/")
    ]


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    return tmp_path_factory.mktemp("keras_home")


# --------------------------------------------------------------------------- #
# The test.
# --------------------------------------------------------------------------- #
def test_blocks_were_found():
    sources = {block.source for block in BLOCKS}
    assert "README.md" in sources
    assert any(source.startswith("kt_twostage.") for source in sources)


def block_environment(keras_home):
    env = {
        name: value
        for name, value in os.environ.items()
        if name != "KT_TWOSTAGE_IMDB" and not name.startswith("KERASTUNER_")
    }
    env["KERAS_HOME"] = str(keras_home)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_code_block_runs(block, tmp_path, keras_home):
    tree = ast.parse(block.code, filename=block.id)
    unknown = sorted(free_names(tree))
    assert not unknown, (
        f"{block.id} uses {unknown}, which it neither defines nor imports: "
        "a reader who pastes it alone gets a NameError"
    )
    outside = absolute_paths(tree)
    assert not outside, (
        f"{block.id} names absolute paths {outside}: as written it writes "
        "outside the working directory (use a relative path)"
    )
    script = tmp_path / "block.py"
    script.write_text(block.code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, script.name],
        cwd=tmp_path,
        env=block_environment(keras_home),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    assert result.returncode == 0, (
        f"{block.id} failed when run alone (exit {result.returncode}):\n"
        f"{result.stderr[-4000:]}"
    )
