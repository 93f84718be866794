"""Every script in examples/ runs in its small setting and prints what it promises.

Each example runs as a subprocess, as a user would run it, with its output in a
temporary directory (nothing is written into the repository) and a temporary
Keras home (the tokenized-data cache).
"""

import ast
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# Every example script, training for real; `make test-all` only.
pytestmark = pytest.mark.heavy

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"
# `_common.py` and the like: helpers the scripts import, not examples.
SCRIPTS = sorted(
    path.name for path in EXAMPLES.glob("*.py") if not path.name.startswith("_")
)


def run_example(tmp_path, script, *args, timeout=240):
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        KERAS_HOME=str(tmp_path / "keras_home"),
        KT_TWOSTAGE_EXAMPLE_SMALL="1",
    )
    env.pop("KT_TWOSTAGE_IMDB", None)
    command = [sys.executable, str(EXAMPLES / script), *args]
    if "--help" not in args:
        command += ["--small", "--directory", str(tmp_path / "runs")]
    # A session of its own, so that a timeout also stops the processes it
    # started (the search child of resume.py, the chief and workers of
    # distributed_search.py).
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - not POSIX
            process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"{script} ran over {timeout} s\n{stdout[-4000:]}{stderr[-4000:]}")
    assert process.returncode == 0, (
        f"{script} exited with {process.returncode}\n"
        f"stdout:\n{stdout[-4000:]}\nstderr:\n{stderr[-4000:]}"
    )
    return stdout


def lines_after(out, header):
    """The indented lines that follow `header`."""
    lines = out.splitlines()
    start = lines.index(header) + 1
    block = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        block.append(line.split())
    return block


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_has_a_docstring_that_says_how_to_run_it(script):
    docstring = ast.get_docstring(ast.parse((EXAMPLES / script).read_text()))
    assert docstring, f"{script} has no docstring"
    assert f"python examples/{script}" in docstring
    assert "--small" in docstring


def test_readme_links_every_example():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Examples", 1)[1].split("\n## ", 1)[0]
    for path in sorted(EXAMPLES.iterdir()):
        if path.suffix in (".py", ".md") and not path.name.startswith("_"):
            assert f"(examples/{path.name})" in section, path.name


def test_imdb_two_stage(tmp_path):
    out = run_example(tmp_path, "imdb_two_stage.py")
    assert "data: 400 training and 400 test reviews" in out
    stage1 = lines_after(out, "stage 1: units -> val_accuracy")
    assert [row[0] for row in stage1] == ["4", "8"]
    winner = re.search(r"^stage 1 winner: units=(\d+)$", out, re.M).group(1)
    assert winner in ("4", "8")
    stage2 = lines_after(
        out, f"stage 2: learning_rate -> val_accuracy (units={winner})"
    )
    assert [row[0] for row in stage2] == ["0.02", "0.01"]
    chosen = [row for row in stage2 if row[-1] == "chosen"]
    assert len(chosen) == 1
    assert re.search(
        rf"^chosen: units={winner} learning_rate={chosen[0][0]} \| val_accuracy=",
        out,
        re.M,
    )
    assert re.search(r"^test accuracy=[01]\.\d{4} test loss=", out, re.M)
    assert (tmp_path / "runs" / "imdb_example_small" / "oracle.json").is_file()


def test_custom_hypermodel(tmp_path):
    out = run_example(tmp_path, "custom_hypermodel.py")
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s+\d+\s", line)]
    assert [(row[1], row[2]) for row in rows[:3]] == [
        ("1", "8"),
        ("1", "16"),
        ("1", "32"),
    ]
    stage2 = [row for row in rows if row[1] == "2"]
    assert [row[3] for row in stage2] == ["0.05", "0.025"]
    assert len({row[2] for row in stage2}) == 1  # the stage-1 winner
    chosen = re.search(r"^chosen: width=(\d+) lr=([\d.]+)$", out, re.M)
    assert chosen and chosen.group(1) == stage2[0][2]
    assert chosen.group(2) in ("0.05", "0.025")
    assert re.search(r"^test accuracy=[01]\.\d{4}$", out, re.M)


def test_resume(tmp_path):
    out = run_example(tmp_path, "resume.py")
    killed = re.search(r"^killed the search: (\d+) trials ended", out, re.M)
    assert killed and 2 <= int(killed.group(1)) < 6
    assert re.search(r"^resuming: ", out, re.M)  # the tuner says where it stands
    trained = re.search(r"^resumed: trained (\d+) trials", out, re.M)
    assert int(trained.group(1)) == 6 - int(killed.group(1))
    assert "all 6 of 6 trials ended" in out
    assert f"kept {killed.group(1)} trials unchanged, reran none of them" in out


def test_compare_builtin(tmp_path):
    out = run_example(tmp_path, "compare_builtin.py")
    assert "budget: 6 epochs per tuner" in out
    rows = {}
    for line in out.splitlines():
        match = re.match(r"^(\w[\w ]*?) +(\d+) +([01]\.\d{4}) +([01]\.\d{4})$", line)
        if match:
            rows[match.group(1)] = int(match.group(2))
    assert set(rows) == {
        "TwoStageTuner",
        "RandomSearch",
        "BayesianOptimization",
        "Hyperband",
        "reference grid",
    }
    assert rows["TwoStageTuner"] == rows["RandomSearch"] == 6
    for name in ("summary.md", "summary.json", "runs.csv", "trials.csv"):
        assert (tmp_path / "runs" / name).is_file(), name


def test_distributed_search_with_a_chief_and_two_workers(tmp_path):
    out = run_example(tmp_path, "distributed_search.py", "--local", "2")
    for tuner_id in ("worker0", "worker1"):
        assert f"[{tuner_id}] {tuner_id} done: the chief says the search is over" in out
    assert "[chief] search over: 4 trials ended" in out
    assert re.search(
        r"^\[chief\] chosen: units=(4|8) learning_rate=(0\.02|0\.01) \|", out, re.M
    )
    assert "[launcher] chief finished" in out
    assert (tmp_path / "runs" / "distributed_example_small" / "oracle.json").is_file()


def md_commands(name):
    """The commands in the ```bash blocks of examples/NAME, as word lists."""
    text = (EXAMPLES / name).read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip().removesuffix("&").strip()
            if line:
                commands.append(shlex.split(line))
    return commands


def test_distributed_md_commands_parse(tmp_path):
    from kt_twostage import distributed
    from kt_twostage.cli import build_parser

    commands = md_commands("distributed.md")
    cli = [words for words in commands if words[0] == "kt-twostage"]
    scripts = [words for words in commands if "python" in words]
    assert {words[1] for words in cli} == {"search", "worker"}
    assert scripts
    parser = build_parser()
    for words in cli:
        parser.parse_args(words[1:])  # exits (SystemExit) on an unknown flag

    usage = {}
    for words in scripts:
        variables = dict(w.split("=", 1) for w in words if "=" in w and w[0] != "-")
        tuner_id = variables.get("KERASTUNER_TUNER_ID", "chief")
        if tuner_id != "chief":
            distributed.check_worker_id(tuner_id)
        words = words[words.index("python") + 1 :]
        script = Path(words[0]).name
        if script not in usage:
            usage[script] = run_example(tmp_path, script, "--help")
        for word in words[1:]:
            if word.startswith("--"):
                assert word in usage[script], f"{script} has no flag {word}"


def _heading_anchors(page) -> set:
    """The anchors GitHub gives the headings of a Markdown page."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_markdown_links_resolve():
    """Every relative link of the README, docs and examples points at a file
    that exists, and every `#anchor` at a heading of its page."""
    pages = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *EXAMPLES.glob("*.md")]
    link = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")
    for page in pages:
        for target, anchor in link.findall(page.read_text()):
            if "://" in target:
                continue
            linked = (page.parent / target) if target else page
            assert linked.exists(), f"{page.name}: {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in _heading_anchors(linked), f"{page.name}: #{anchor}"
