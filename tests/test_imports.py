"""The package's import structure: a pure schedule, lazy public names."""

import subprocess
import sys

import pytest

import kt_twostage


def imported_after(statement):
    """The heavy modules loaded by `statement` in a fresh interpreter."""
    code = (
        f"{statement}\n"
        "import sys\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner', 'jax', "
        "'torch') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "statement",
    [
        "import kt_twostage.schedule",
        "from kt_twostage.schedule import planner, ranking, rule, config",
        "import kt_twostage",
        "import kt_twostage.imdb.settings",
        "import kt_twostage.tabular.table",
    ],
)
def test_pure_modules_load_neither_tensorflow_nor_keras_tuner(statement):
    assert imported_after(statement) == "[]"


def test_every_public_name_is_importable():
    for name in kt_twostage.__all__:
        assert getattr(kt_twostage, name) is not None
    assert set(kt_twostage.__all__) <= set(dir(kt_twostage))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        kt_twostage.Nope  # noqa: B018
