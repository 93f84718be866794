"""Every Python code block of the documentation runs, as written, on tiny data.

Blocks (fenced ```python or ```py) come from:

- `README.md`, `docs/*.md` and `examples/*.md`;
- the docstrings of the public API: the package docstring, every name in
  `kt_twostage.__all__` and in the `__all__` of each public subpackage
  (`kt_twostage.<name>` packages that define one), and the methods and
  properties those classes define.

Each block runs in a fresh namespace, in a temporary working directory (so
`directory="runs"` lands there), with `KERAS_HOME` in a temporary folder (the
tokenized IMDB cache). A docstring example uses the names of the public API
without importing them, and the documentation's running example names its
data `x_train`, `y_train` and its model function `build_model`; the block
gets those names it uses but does not define itself, from `NAMESPACE`:

- `keras`, `keras_tuner`, `np`, and every name of `kt_twostage.__all__`;
- `x_train`, `y_train` (64 rows), `x_val`, `y_val`, `x_test`, `y_test`
  (32 rows each): 3 float32 features, the label is 1 where the first two sum
  above 0;
- `build_model(hp)`: one `Dense` layer on the 3 features, compiled with
  RMSprop; it declares the units hyperparameter (`Choice` of 2 and 4) and the
  learning rate (log `Float` from 1e-4 to 0.02, default 1e-3) under the names
  the block passes as `units_hp=` / `learning_rate_hp=` (else Keras Tuner's
  `"units"` / `"learning_rate"`);
- `directory`: `"runs"`;
- `data`: `load_imdb(sample_path(), num_words=1000, max_length=50)`;
- the file `aclImdb_v1.tar.gz` in the working directory: 8 training and 8
  test reviews in the official layout (for a block that loads it by name).

The text of a block is never changed. A block that uses a name it neither
defines nor gets from the namespace fails, and so does one that names an
absolute path (it would write outside its working directory).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import io
import pkgutil
import re
import tarfile
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

import kt_twostage

ROOT = Path(__file__).parents[1]
MARKDOWN = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "examples").glob("*.md")),
]
FENCE = re.compile(r"^```(?:python|py)[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)

# Blocks that are not run, with the reason (matched by their source and a
# line of their code). Each is reported to the maintainers; the block is
# still compiled and its names checked.


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


# --------------------------------------------------------------------------- #
# The namespace.
# --------------------------------------------------------------------------- #
def tiny_data(samples, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 3)).astype("float32")
    y = (x[:, :2].sum(axis=1) > 0).astype("float32")
    return x, y


def make_build_model(units_hp, learning_rate_hp):
    def build_model(hp):
        units = hp.Choice(units_hp, [2, 4])
        learning_rate = hp.Float(
            learning_rate_hp, 1e-4, 0.02, sampling="log", default=1e-3
        )
        model = keras.Sequential(
            [
                keras.Input(shape=(3,)),
                keras.layers.Dense(units, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate),
            loss="binary_crossentropy",
            metrics=["accuracy"],
            run_eagerly=True,
        )
        return model

    return build_model


def hp_name(code, argument, default):
    match = re.search(rf"{argument}\s*=\s*[\"'](\w+)[\"']", code)
    return match.group(1) if match else default


def namespace_factories(code):
    x_train, y_train = tiny_data(64, seed=0)
    x_val, y_val = tiny_data(32, seed=1)
    x_test, y_test = tiny_data(32, seed=2)
    factories = {
        "keras": lambda: keras,
        "keras_tuner": lambda: keras_tuner,
        "np": lambda: np,
        "x_train": lambda: x_train,
        "y_train": lambda: y_train,
        "x_val": lambda: x_val,
        "y_val": lambda: y_val,
        "x_test": lambda: x_test,
        "y_test": lambda: y_test,
        "build_model": lambda: make_build_model(
            hp_name(code, "units_hp", "units"),
            hp_name(code, "learning_rate_hp", "learning_rate"),
        ),
        "directory": lambda: "runs",
        "data": lambda: kt_twostage.load_imdb(
            kt_twostage.sample_path(), num_words=1000, max_length=50
        ),
    }
    for name in kt_twostage.__all__:
        factories.setdefault(name, lambda name=name: getattr(kt_twostage, name))
    return factories


NAMESPACE = sorted(namespace_factories(""))


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


def write_tiny_imdb_archive(path, reviews_per_class=4):
    """An archive in the official `aclImdb` layout with a few short reviews."""
    words = {
        "pos": "a wonderful film with great acting and a moving story",
        "neg": "a dull film with bad acting and a boring story",
    }
    with tarfile.open(path, "w:gz") as archive:
        for split in ("train", "test"):
            for label, text in words.items():
                for i in range(reviews_per_class):
                    data = f"{text} {i}".encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{i}_7.txt")
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))


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


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_code_block_runs(block, tmp_path, keras_home, monkeypatch):
    tree = ast.parse(block.code, filename=block.id)
    factories = namespace_factories(block.code)
    unknown = sorted(free_names(tree) - set(factories))
    assert not unknown, (
        f"{block.id} uses {unknown}, which it neither defines nor gets from the "
        f"test's namespace ({', '.join(NAMESPACE)})"
    )
    outside = absolute_paths(tree)
    assert not outside, (
        f"{block.id} names absolute paths {outside}: as written it writes "
        "outside the working directory (use a relative path)"
    )
    compiled = compile(tree, block.id, "exec")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.delenv("KT_TWOSTAGE_IMDB", raising=False)
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP"):
        monkeypatch.delenv(name, raising=False)
    write_tiny_imdb_archive(tmp_path / "aclImdb_v1.tar.gz")
    namespace = {"__name__": "__docs__"}
    for name in free_names(tree):
        namespace[name] = factories[name]()
    exec(compiled, namespace)
