"""The command line as people meet it: every flag checked at the top, in one
line, before anything heavy loads; a fast `--help`; no C++ log lines; the
command line's words in the library's errors; `--backend`."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from kt_twostage.cli import _common, main
from kt_twostage.cli.search import distributed_commands

HEAVY = ("tensorflow", "keras", "keras_tuner", "jax", "torch")
CHIEF = ["--chief", "127.0.0.1:5000", "--tuner-id", "worker0"]

# (argv, message): each exits 2 with one line on stderr.
BAD_FLAGS = [
    (["search", "--stage2-trials", "0"], "`--stage2-trials`, expected a positive"),
    (["search", "--stage2-rule", "bisect"], "--stage2-rule: invalid choice"),
    (["search", "--reinvest-stopped-epochs"], "without `--stage2-patience`"),
    (["search", "--stage1-epochs", "-1"], "`--stage1-epochs`, expected a positive"),
    (["search", "--units-step", "0"], "`--units-step`, expected a positive"),
    (
        ["search", "--units-min", "9", "--units-max", "5"],
        "--units-min 9 > --units-max 5",
    ),
    (["search", "--num-words", "1"], "`--num-words`, expected an integer >= 2"),
    (["search", "--max-length", "0"], "`--max-length`, expected a positive"),
    (["search", "--batch-size", "0"], "`--batch-size`, expected a positive"),
    (["search", "--max-learning-rate", "0"], "`--max-learning-rate`, expected a"),
    (["search", "--stage1-learning-rate", "0.5"], "expected at most `--max-learning"),
    (["search", "--validation-split", "1.5"], "between 0 and 1"),
    (["search", "--seed", "-1"], "`--seed`, expected a non-negative integer"),
    (["search", "--verbose", "3"], "`--verbose`, expected 0"),
    (["search", "--stage2-patience", "0"], "`--stage2-patience`, expected a positive"),
    (["search", "--keep-checkpoints", "0"], "`--keep-checkpoints`, expected a"),
    (["search", "--project-name", ""], "`--project-name`, expected a non-empty"),
    (["search", "--workers", "0"], "--workers must be a positive integer"),
    (["search", "--stage2-parallelism", "0"], "--stage2-parallelism must be a"),
    (["search", "--serve", "host:99999"], "--serve: Invalid address"),
    (["search", "--stage2-trials", "two"], "invalid int value: 'two'"),
    (["search", "--backend", "mxnet"], "argument --backend: invalid choice"),
    (["search", "--preset", "huge"], "argument --preset: invalid choice"),
    (["worker", "--tuner-id", "worker0"], "no chief to join: give --chief"),
    (["worker", "--chief", "nohost", "--tuner-id", "worker0"], "--chief: Invalid"),
    (["worker", "--chief", "127.0.0.1:5000", "--tuner-id", "chief"], "Invalid worker"),
    (["worker", *CHIEF, "--overwrite"], "--overwrite is for the chief only"),
    (["worker", *CHIEF, "--stage2-epochs", "0"], "`--stage2-epochs`, expected a"),
    (["compare", "--tuners", "twostage,grdi"], "Unknown tuner(s) ['grdi']"),
    (["compare", "--seeds", "0"], "--seeds must be at least 1"),
    (["compare", "--stage2-patience", "0"], "--stage2-patience must be at least 1"),
    (["compare", "--verbose", "7"], "--verbose must be 0, 1 or 2"),
    (["compare", "--grid-seeds", "0"], "`--grid-seeds` and `--grid-learning-rates`"),
    (["compare", "--train-reviews", "1"], "Expected `--train-reviews` >= 2"),
    (["compare", "--stage2-epochs", "0"], "`--stage2-epochs`, expected a positive"),
    (["compare", "--profile", "huge"], "argument --profile: invalid choice"),
    (["compare", "--min-learning-rate", "0"], "`--min-learning-rate`, expected a pos"),
    (["compare", "--min-learning-rate", "0.005"], "at most the stage-1 learning"),
    (["record", "--seeds", "0"], "--seeds must be at least 1"),
    (["record", "--units", "a,b"], "--units expects comma-separated numbers"),
]
MISSING_DATA = ["search", "--data", "/no/such/aclImdb"]

# Runs every argv in one process, then says which heavy modules it loaded.
_CHECK_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from kt_twostage.cli import main

    results = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main(argv)
            except SystemExit as exit:
                status = exit.code
        results.append({"status": status, "err": err.getvalue()})
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2].split(","))
    print(json.dumps({"results": results, "heavy": heavy}))
    """
)


def python_env(tmp_path, **changes):
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home"), **changes)
    for name in (
        "KERASTUNER_TUNER_ID",
        "KERASTUNER_ORACLE_IP",
        "KERASTUNER_ORACLE_PORT",
    ):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """Every bad command line of the table, run in one fresh process."""
    tmp_path = tmp_path_factory.mktemp("checks")
    argvs = [argv for argv, _ in BAD_FLAGS] + [MISSING_DATA]
    completed = subprocess.run(
        [sys.executable, "-c", _CHECK_SCRIPT, json.dumps(argvs), ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=300,
        env=python_env(tmp_path),
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.splitlines()[-1])
    results = dict(zip(map(tuple, argvs), report["results"], strict=True))
    return {**report, "results": results}


@pytest.mark.parametrize(
    "argv, message", BAD_FLAGS, ids=[" ".join(argv) for argv, _ in BAD_FLAGS]
)
def test_bad_flag_exits_2_with_one_line(checked, argv, message):
    result = checked["results"][tuple(argv)]
    assert result["status"] == 2, result
    lines = result["err"].strip().splitlines()
    assert len(lines) == 1, result["err"]
    assert lines[0].startswith(f"kt-twostage {argv[0]}: error:")
    assert message in lines[0]


def test_missing_data_is_reported_before_loading(checked):
    result = checked["results"][tuple(MISSING_DATA)]
    assert result["status"] == 1
    assert result["err"].count("\n") == 1
    assert "No IMDB reviews at '/no/such/aclImdb' (--data)" in result["err"]


def test_bad_flags_load_nothing_heavy(checked):
    # No TensorFlow, hence no data: every check ran before either.
    assert checked["heavy"] == []


@pytest.mark.parametrize("command", [[], ["search"], ["worker"], ["compare"]])
def test_help_imports_nothing_heavy(tmp_path, command):
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kt_twostage", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=python_env(tmp_path),
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "usage: kt-twostage" in completed.stdout
    # `-X importtime` writes "import time: self | cumulative | module".
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in completed.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not {m for m in imported if m.split(".")[0] in HEAVY}


def test_main_sets_the_log_level_unless_the_user_did(monkeypatch):
    monkeypatch.delenv(_common.LOG_LEVEL_ENV, raising=False)
    with pytest.raises(SystemExit):
        main(["--help"])
    assert os.environ[_common.LOG_LEVEL_ENV] == "2"
    monkeypatch.setenv(_common.LOG_LEVEL_ENV, "0")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert os.environ[_common.LOG_LEVEL_ENV] == "0"


def test_keras_loads_without_cpp_log_lines(tmp_path):
    script = (
        "from kt_twostage.cli._common import import_keras_quietly\n"
        "import_keras_quietly()\n"
        "import keras, sys\n"
        "print(keras.backend.backend())\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=python_env(tmp_path, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow"),
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "tensorflow"
    assert not re.search(r"^[IW]\d{4} |absl::InitializeLog", completed.stderr, re.M)


def test_native_log_filter_keeps_errors_and_other_text(capsys):
    text = (
        "WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR\n"
        "I0000 00:00:1796422575.879622    9507 port.cc:153] oneDNN custom ops\n"
        "W0000 00:00:1796422575.879925    9507 cudart_stub.cc:31] no drivers\n"
        "E0000 00:00:1796422575.879925    9507 cuda_dnn.cc:8] cuDNN broke\n"
        "a Python warning\n"
    )
    _common._pass_on(text, "IW")
    assert capsys.readouterr().err.splitlines() == [
        "E0000 00:00:1796422575.879925    9507 cuda_dnn.cc:8] cuDNN broke",
        "a Python warning",
    ]


@pytest.mark.parametrize(
    "library, command_line",
    [
        (
            "Resume with the original settings, or start over with "
            "`overwrite=True` (this deletes the project) or a new `project_name`.",
            "Resume with the original settings, or start over with "
            "`--overwrite` (this deletes the project) or a new `--project-name`.",
        ),
        (
            "To start over, pass `overwrite=True` (this deletes the project) or "
            "use a new `project_name`.",
            "To start over, pass `--overwrite` (this deletes the project) or "
            "use a new `--project-name`.",
        ),
        (
            "Pass `overwrite=True` to delete them, or another `work_dir`.",
            "Pass `--overwrite` to delete them, or another `--work-dir`.",
        ),
        ("`stage2_trials`, expected", "`stage2_trials`, expected"),
    ],
)
def test_library_words_become_flags(library, command_line):
    assert _common.cli_words(library) == command_line


def test_backend_is_picked_before_keras_loads(tmp_path):
    pytest.importorskip("jax")
    # `search.run` replaced (`register` reads it when `main` builds the
    # parser): what matters is the backend Keras loaded with before it.
    script = textwrap.dedent(
        """
        import sys
        from kt_twostage.cli import main, search

        def run(args):
            import keras
            print("backend", keras.backend.backend())

        search.run = run
        sys.exit(main(["search", "--backend", "jax"]))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=python_env(tmp_path, KERAS_BACKEND="tensorflow"),
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "backend jax" in completed.stdout


def test_backend_goes_to_the_chief_and_the_workers():
    from kt_twostage.cli import build_parser

    args = build_parser().parse_args(["search", "--workers", "2", "--backend", "jax"])
    for command in distributed_commands(args):
        assert command[command.index("--backend") + 1] == "jax"
