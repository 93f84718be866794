"""Kill a search anywhere, resume it with `overwrite=False`: nothing is lost.

Every scenario runs tests/fake_search.py (a `TwoStageTuner` whose trainer is
a deterministic formula), SIGKILLs it at one or more points, resumes it until
it finishes, and compares the result with an uninterrupted run:

- the same trials, in the same order, with the same (stage, units, learning
  rate, epochs), status and score, and the same final choice;
- from the append-only run log: no trial runs again once its end (COMPLETED
  or FAILED) was saved, every interrupted trial is run again, every trial
  ended exactly once;
- every state file parses; no trial is left running or queued.

Deterministic kill points (count-based, see tests/fake_search.py) run in two
batch processes that import TensorFlow once and fork one fresh child per
launch; the reference run, a resume of a finished search and a scenario with
random SIGKILLs from this process use real `python tests/fake_search.py`
processes.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_search import read_log, score_of

# The kill/resume matrix: real processes killed at many points; `make test-all` only.
pytestmark = pytest.mark.heavy

REPO = Path(__file__).resolve().parents[1]
FAKE_SEARCH = REPO / "tests" / "fake_search.py"

UNITS_GRID = (10, 20, 30, 40, 50)
STAGE1_LR, MAX_LR = 0.001, 0.02
STAGE1_EPOCHS, STAGE2_EPOCHS, STAGE2_TRIALS = 1, 3, 5

# The failure settings: stage 1 loses units 30 (the trial raises), stage 2
# loses learning rate 0.01 (the trial returns NaN).
FAILURES = ["--fail", "raise:units=30", "--fail", "nan:lr=0.01"]


def env():
    environment = dict(os.environ)
    environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
    environment.pop("FAKE_SEARCH_KILL", None)
    path = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = str(REPO) + (os.pathsep + path if path else "")
    return environment


def launch(directory, *args, kill=None, timeout=120):
    environment = env()
    if kill:
        environment["FAKE_SEARCH_KILL"] = kill
    return subprocess.run(
        [sys.executable, str(FAKE_SEARCH), str(directory), *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---------------------------------------------------------------------- #
# The specification, written independently of kt_twostage.schedule.
# ---------------------------------------------------------------------- #
def specified_trials(failed=lambda units, lr: False):
    """(trial_id, stage, units, lr, epochs, status) in order, and the choice."""
    rows, stage1 = [], []
    for units in UNITS_GRID:
        ok = not failed(units, STAGE1_LR)
        stage1.append(score_of(units, STAGE1_LR) if ok else None)
        rows.append((1, units, STAGE1_LR, STAGE1_EPOCHS, ok))
    scored = [(s, -i) for i, s in enumerate(stage1) if s is not None]
    units = UNITS_GRID[-max(scored)[1]]
    learning_rate, previous, best = MAX_LR, None, None
    for _ in range(STAGE2_TRIALS):
        ok = not failed(units, learning_rate)
        rows.append((2, units, learning_rate, STAGE2_EPOCHS, ok))
        score = score_of(units, learning_rate) if ok else None
        # Improved: first scored, better than the last scored, or failed.
        improved = score is None or previous is None or score > previous
        if score is not None:
            previous = score
            if best is None or score > best[0]:
                best = (score, learning_rate)
        if improved:
            learning_rate = learning_rate / 2
        else:
            learning_rate = (MAX_LR + learning_rate) / 2
    width = len(str(len(rows)))
    return [
        (f"{i:0{width}d}", *row[:4], "COMPLETED" if row[4] else "FAILED")
        for i, row in enumerate(rows)
    ], (units, best[1])


# ---------------------------------------------------------------------- #
# Reading a run: its state files and its run log.
# ---------------------------------------------------------------------- #
def read_project(run_dir):
    """The project's state; every file must parse."""
    project = Path(run_dir) / "project"
    oracle = json.loads((project / "oracle.json").read_text())
    tuner = json.loads((project / "tuner0.json").read_text())
    trials = {}
    for path in sorted(project.glob("trial_*/trial.json")):
        state = json.loads(path.read_text())
        trials[state["trial_id"]] = state
    rows = []
    for trial_id in oracle["start_order"]:
        state = trials[trial_id]
        values = state["hyperparameters"]["values"]
        rows.append(
            (
                trial_id,
                values["tuner/stage"],
                values["units"],
                values["learning_rate"],
                values["tuner/epochs"],
                state["status"],
                _comparable(state["score"]),
            )
        )
    return {
        "oracle": oracle,
        "tuner": tuner,
        "trials": trials,
        "rows": rows,
        "tmp_files": sorted(project.rglob("*.tmp")),
        "trial_dirs": sorted(p for p in project.glob("trial_*") if p.is_dir()),
    }


def _comparable(score):
    # NaN != NaN: a NaN score (a trial that returned NaN) compares as "nan".
    if isinstance(score, float) and math.isnan(score):
        return "nan"
    return score


def read_final(run_dir):
    return json.loads((Path(run_dir) / "final.json").read_text())


def split_launches(run_dir):
    """The run log's events, one list per launch, in launch order."""
    launches = {}
    for event in read_log(Path(run_dir) / "runs.log"):
        launches.setdefault(event["launch"], []).append(event)
    return list(launches.values())


def history_problems(run_dir, launches):
    """What the run log shows that resume got wrong (empty: nothing)."""
    problems = []
    logged = split_launches(run_dir)
    if len(logged) != len(launches):
        return [f"{len(launches)} launches, but {len(logged)} in the run log"]
    saved = {}  # trial -> (launch, status) of the first saved end
    maybe_saved = set()  # killed while the end was being written
    interrupted = []  # (launch, trials started and not ended)
    for index, (events, result) in enumerate(zip(logged, launches, strict=True)):
        killed = result["rc"] == -9
        running, pending = set(), set()
        for event in events:
            kind, trial = event["event"], event.get("trial")
            if kind == "start":
                if trial in saved and trial not in maybe_saved:
                    where, status = saved[trial]
                    problems.append(
                        f"launch {index}: trial {trial} ran again although its "
                        f"end ({status}) was saved in launch {where}"
                    )
                running.add(trial)
            elif kind == "persist_begin":
                pending.add(trial)
            elif kind == "persisted":
                saved.setdefault(trial, (index, event["status"]))
                running.discard(trial)
                pending.discard(trial)
        kills = [e for e in events if e["event"] == "kill"]
        if result.get("kill"):
            if not kills or kills[0]["at"] != result["kill"] or not killed:
                problems.append(
                    f"launch {index}: kill point {result['kill']} was not "
                    f"reached (exit status {result['rc']})"
                )
        if killed:
            if result.get("kill_after") is not None:
                # A random kill may land between the write and its log line;
                # a kill point never does.
                maybe_saved |= pending
            interrupted.append((index, running))
        elif result["rc"] == 0 and running:
            problems.append(
                f"launch {index} finished with trials {sorted(running)} "
                "started but never ended"
            )
    for index, trials in interrupted:
        for trial in sorted(trials):
            later = [
                i
                for i, events in enumerate(logged[index + 1 :], index + 1)
                if any(
                    e["event"] == "start" and e.get("trial") == trial for e in events
                )
            ]
            if not later and trial not in saved and trial not in maybe_saved:
                problems.append(
                    f"trial {trial}, interrupted in launch {index}, never ran again"
                )
    # Every trial's run that completed and was saved happened exactly once.
    for trial in sorted({e.get("trial") for es in logged for e in es} - {None}):
        ends = [
            i
            for i, events in enumerate(logged)
            for e in events
            if e["event"] == "persisted" and e["trial"] == trial
        ]
        if len(ends) != 1 and trial not in maybe_saved:
            problems.append(f"trial {trial}: its end was saved {len(ends)} times")
    return problems


def state_problems(run_dir, reference):
    """How the finished project differs from the uninterrupted one."""
    problems = []
    try:
        state = read_project(run_dir)
    except (OSError, ValueError, KeyError) as error:
        return [f"unreadable state: {type(error).__name__}: {error}"]
    if state["rows"] != reference["rows"]:
        problems.append(
            "trials differ from the uninterrupted run:\n  got      "
            + "\n           ".join(map(str, state["rows"]))
            + "\n  expected "
            + "\n           ".join(map(str, reference["rows"]))
        )
    # A killed atomic write may leave its temporary file, never in place of
    # the real one; no trial directory is left without its trial.json.
    for temporary in state["tmp_files"]:
        real = temporary.parent / temporary.name[1:].rsplit(".", 2)[0]
        if not real.exists():
            problems.append(f"{temporary} left where {real.name} is missing")
    for directory in state["trial_dirs"]:
        if not (directory / "trial.json").exists():
            problems.append(f"{directory.name} has no trial.json")
    oracle = state["oracle"]
    if sorted(state["trials"]) != sorted(oracle["start_order"]):
        problems.append(
            f"trial files {sorted(state['trials'])} != start order "
            f"{oracle['start_order']}"
        )
    if sorted(oracle["end_order"]) != sorted(oracle["start_order"]):
        problems.append(f"not every trial ended: end order {oracle['end_order']}")
    if oracle["ongoing_trials"] or oracle["retry_queue"]:
        problems.append(
            f"left running {oracle['ongoing_trials']} / queued {oracle['retry_queue']}"
        )
    try:
        final = read_final(run_dir)
    except (OSError, ValueError) as error:
        return problems + [f"no final choice: {error}"]
    if final != reference["final"]:
        problems.append(f"final choice {final} != {reference['final']}")
    return problems


def run_problems(run_dir, launches, reference):
    problems = history_problems(run_dir, launches)
    last = launches[-1]
    if last["rc"] != 0:
        problems.append(
            f"the last launch exited {last['rc']}:\n{last.get('output_tail', '')}"
        )
    else:
        problems += state_problems(run_dir, reference)
    return problems


def describe_launches(launches):
    return "; ".join(
        f"[{i}] kill={r.get('kill') or r.get('kill_after')} rc={r['rc']}"
        for i, r in enumerate(launches)
    )


# ---------------------------------------------------------------------- #
# The scenarios.
# ---------------------------------------------------------------------- #
def kills(*specs):
    return [{"kill": spec} for spec in specs]


def random_kills(seed, count, high, kill_from):
    """SIGKILLs `uniform(0, high)` seconds after the child's first `kill_from`."""
    rng = random.Random(seed)
    return [
        {"kill_after": round(rng.uniform(0.0, high), 3), "kill_from": kill_from}
        for _ in range(count)
    ]


# Trials 00-04 are stage 1 (units 10..50), 05-09 stage 2 (units 20).
# A trial's trial.json writes in a fresh launch: #1 created, #2 metrics
# (update_trial), #3 ended; oracle.json: #1 created, #2 ended (end_trial),
# #3 Tuner.save; tuner0.json: #1 Tuner.save. A retried trial has no #1.
SCENARIOS = [
    # During the very first trial, before any tuner0.json exists.
    ("first", "first-trial-json-mid-write", kills("write:trial.json:mid@00#1")),
    ("first", "first-oracle-json-mid-write", kills("write:oracle.json:mid@00#1")),
    ("first", "first-run-begin", kills("run:begin@00")),
    ("first", "first-run-done-unreported", kills("run:logged@00")),
    ("first", "first-metrics-saved", kills("oracle.update_trial:end@00")),
    ("first", "first-end-saved-oracle-stale", kills("write:trial.json:end@00#3")),
    ("first", "first-end-trial-returned", kills("oracle.end_trial:end@00")),
    ("first", "first-tuner-json-mid-write", kills("write:tuner0.json:mid@00#1")),
    # Stage 1.
    ("stage1", "stage1-run-scored", kills("run:scored@02")),
    ("stage1", "stage1-metrics-mid-write", kills("write:trial.json:mid@02#2")),
    ("stage1", "stage1-end-mid-write", kills("write:trial.json:mid@02#3")),
    ("stage1", "stage1-end-oracle-mid-write", kills("write:oracle.json:mid@02#2")),
    ("stage1", "stage1-tuner-json-mid-write", kills("write:tuner0.json:mid@02#1")),
    ("stage1", "stage1-created-oracle-mid-write", kills("write:oracle.json:mid@03#1")),
    # The switch from stage 1 to stage 2.
    ("switch", "switch-last-stage1-unreported", kills("run:logged@04")),
    ("switch", "switch-last-stage1-end-saved", kills("write:trial.json:end@04#3")),
    ("switch", "switch-stage1-saved-no-stage2", kills("tuner.save:end@04")),
    ("switch", "switch-first-stage2-created", kills("write:trial.json:end@05#1")),
    ("switch", "switch-first-stage2-running", kills("run:begin@05")),
    # Stage 2.
    ("stage2", "stage2-run-scored", kills("run:scored@07")),
    ("stage2", "stage2-tuner-save-oracle-mid", kills("write:oracle.json:mid@07#3")),
    ("stage2", "stage2-end-trial-returned", kills("oracle.end_trial:end@08")),
    ("stage2", "stage2-last-trial-unreported", kills("run:logged@09")),
    ("stage2", "stage2-all-saved-not-returned", kills("tuner.save:end@09")),
    # The same run killed again and again.
    (
        "repeated",
        "repeated-same-trial",
        kills(
            "run:scored@01",
            "run:scored@01",  # the retry of trial 01, killed again
            "write:trial.json:end@01#2",  # the retry's end saved
        ),
    ),
    (
        "repeated",
        "repeated-across-stages",
        kills(
            "write:oracle.json:mid@03#1",
            "run:logged@04",
            "write:trial.json:mid@05#1",
            "oracle.end_trial:end@06",
            "run:begin@09",
        ),
    ),
    # Random SIGKILLs from the parent (seeded delays; where they land varies).
    # Timed from the first trial's start: "a" trains 0.03 s per trial, so
    # most kills land in a trial; "b" trains 0.01 s per trial, so a good share
    # land in the state writes while every run still outlasts the longest
    # delay (with no training at all a fast machine finished before any kill).
    # "c" is timed from the process start: reload, first trial.
    ("random", "random-kills-a", random_kills(1, 5, high=0.2, kill_from="start")),
    ("random", "random-kills-b", random_kills(2, 5, high=0.05, kill_from="start")),
    ("random", "random-kills-c", random_kills(3, 5, high=0.1, kill_from="launch")),
]
RANDOM_ARGS = {
    "random-kills-a": ["--sleep", "0.03"],
    "random-kills-b": ["--sleep", "0.01"],
    "random-kills-c": ["--sleep", "0.02"],
}

FAILURE_SCENARIOS = [
    {"name": "failures-uninterrupted", "launches": [{}], "args": FAILURES},
    {
        "name": "failures-killed",
        "args": FAILURES,
        # Trial 02 (units 30) raises: its FAILED end is saved, the oracle's
        # file is stale. Trial 06 (lr 0.01) returns NaN: killed right after
        # it ended.
        "launches": kills("write:trial.json:end@02#2", "oracle.end_trial:end@06"),
    },
    {
        "name": "consecutive-limit",
        "args": [
            "--fail",
            "failed:units=30",
            "--fail",
            "raise:units=40",
            "--max-consecutive-failed-trials",
            "2",
        ],
        "launches": [{}, {}],
        "resume_until_done": False,
    },
]


def scenario_specs(base):
    specs = []
    for _category, name, launches in SCENARIOS:
        specs.append(
            {
                "name": name,
                "dir": str(base / name / "run"),
                "args": RANDOM_ARGS.get(name, []),
                "launches": launches,
            }
        )
    for scenario in FAILURE_SCENARIOS:
        specs.append({**scenario, "dir": str(base / scenario["name"] / "run")})
    return specs


# ---------------------------------------------------------------------- #
# Fixtures.
# ---------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted search, in a real process."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = launch(run_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    state = read_project(run_dir)
    final = read_final(run_dir)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == final
    return {"dir": run_dir, "rows": state["rows"], "final": final}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Run every forked scenario, in two processes (two cores)."""
    base = tmp_path_factory.mktemp("kill_scenarios")
    specs = scenario_specs(base)
    halves = [specs[0::2], specs[1::2]]
    processes = []
    for index, half in enumerate(halves):
        scenarios_path = base / f"scenarios{index}.json"
        scenarios_path.write_text(json.dumps(half))
        results_path = base / f"results{index}.json"
        processes.append(
            (
                subprocess.Popen(
                    [
                        sys.executable,
                        str(FAKE_SEARCH),
                        "--batch",
                        str(scenarios_path),
                        str(results_path),
                    ],
                    cwd=REPO,
                    env=env(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                ),
                results_path,
            )
        )
    results = {}
    for process, results_path in processes:
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output[-5000:]
        results.update(json.loads(results_path.read_text())["scenarios"])
    return {spec["name"]: {**spec, "launches": results[spec["name"]]} for spec in specs}


# ---------------------------------------------------------------------- #
# The tests.
# ---------------------------------------------------------------------- #
def test_reference_follows_the_specification(reference):
    specified, (units, learning_rate) = specified_trials()
    assert [row[:6] for row in reference["rows"]] == specified
    for row in reference["rows"]:
        assert row[6] == score_of(row[2], row[3])
    best = reference["final"]["values"]
    assert (best["units"], best["learning_rate"], best["tuner/stage"]) == (
        units,
        learning_rate,
        2,
    )
    # Stage 2 both halves and moves back toward the maximum.
    rates = [row[3] for row in reference["rows"] if row[1] == 2]
    assert rates == [0.02, 0.01, 0.005, 0.0025, 0.01125]
    events = read_log(reference["dir"] / "runs.log")
    assert [e["trial"] for e in events if e["event"] == "done"] == [
        row[0] for row in reference["rows"]
    ]


def test_kill_points_cover_every_category():
    categories = {}
    for category, _name, launches in SCENARIOS:
        categories.setdefault(category, []).extend(launches)
    deterministic = {
        launch["kill"]
        for launches in categories.values()
        for launch in launches
        if launch.get("kill")
    }
    assert len(deterministic) >= 20
    assert set(categories) == {
        "first", "stage1", "switch", "stage2", "repeated", "random"
    }  # fmt: skip
    written = {
        spec.split(":")[1] for spec in deterministic if spec.startswith("write:")
    }
    assert written == {"trial.json", "oracle.json", "tuner0.json"}


@pytest.mark.parametrize("name", [name for _category, name, _launches in SCENARIOS])
def test_kill_and_resume_loses_nothing(name, batch, reference):
    scenario = batch[name]
    launches = scenario["launches"]
    problems = run_problems(scenario["dir"], launches, reference)
    assert not problems, f"{name}: {describe_launches(launches)}\n" + "\n".join(
        problems
    )
    if name.startswith("random"):
        assert any(r["rc"] == -9 for r in launches), "no random kill landed"


def test_random_kills_of_real_processes(tmp_path, reference):
    """Real processes, SIGKILLed by this one after seeded random delays."""
    run_dir = tmp_path / "run"
    rng = random.Random(7)
    launches = []
    # A deterministic kill point first (through the environment variable).
    result = launch(run_dir, kill="write:oracle.json:mid@02#2")
    launches.append({"kill": "write:oracle.json:mid@02#2", "rc": result.returncode})
    for _ in range(2):
        delay = rng.uniform(0.0, 0.2)
        environment = env()
        process = subprocess.Popen(
            [sys.executable, str(FAKE_SEARCH), str(run_dir), "--sleep", "0.1"],
            cwd=REPO,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Wait until the search runs (past the TensorFlow import), then kill.
        seen = len(split_launches(run_dir))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            logged = split_launches(run_dir)
            if len(logged) > seen and any(e["event"] == "start" for e in logged[-1]):
                break
            time.sleep(0.01)
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        launches.append({"kill_after": delay, "rc": process.wait(timeout=60)})
    final = launch(run_dir)
    launches.append({"rc": final.returncode, "output_tail": final.stderr[-3000:]})
    problems = run_problems(run_dir, launches, reference)
    assert not problems, describe_launches(launches) + "\n" + "\n".join(problems)
    assert sum(r["rc"] == -9 for r in launches) >= 2


def test_resuming_a_finished_search_runs_nothing(tmp_path, reference):
    run_dir = tmp_path / "run"
    shutil.copytree(reference["dir"], run_dir)
    before = {
        path.relative_to(run_dir): path.read_bytes()
        for path in (run_dir / "project").rglob("trial.json")
    }
    result = launch(run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    events = split_launches(run_dir)[-1]
    assert [e["event"] for e in events] == ["launch", "finish"]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == reference["final"]
    assert read_final(run_dir) == reference["final"]
    state = read_project(run_dir)
    assert state["rows"] == reference["rows"]
    after = {
        path.relative_to(run_dir): path.read_bytes()
        for path in (run_dir / "project").rglob("trial.json")
    }
    assert after == before


def failure_rows():
    def failed(units, learning_rate):
        return units == 30 or math.isclose(learning_rate, 0.01)

    return specified_trials(failed)


def test_failed_trials_are_recorded_and_the_schedule_goes_on(batch):
    scenario = batch["failures-uninterrupted"]
    (result,) = scenario["launches"]
    assert result["rc"] == 0, result["output_tail"]
    state = read_project(scenario["dir"])
    specified, (units, learning_rate) = failure_rows()
    assert [row[:6] for row in state["rows"]] == specified
    by_id = {row[0]: row for row in state["rows"]}
    # Units 30 raised, learning rate 0.01 gave NaN: both FAILED, no score.
    assert by_id["02"][5:] == ("FAILED", None)
    assert "fake error in trial 02" in state["trials"]["02"]["message"]
    # Keras Tuner keeps the NaN as the failed trial's score.
    assert by_id["06"][3:] == (0.01, 3, "FAILED", "nan")
    # A failed stage-2 trial counts as "too high": the next rate is halved.
    assert by_id["07"][3] == 0.005
    final = read_final(scenario["dir"])
    assert (final["values"]["units"], final["values"]["learning_rate"]) == (
        units,
        learning_rate,
    )
    assert history_problems(scenario["dir"], scenario["launches"]) == []


def test_failed_trials_are_remembered_after_a_kill(batch):
    uninterrupted = batch["failures-uninterrupted"]
    scenario = batch["failures-killed"]
    reference = {
        "rows": read_project(uninterrupted["dir"])["rows"],
        "final": read_final(uninterrupted["dir"]),
    }
    problems = run_problems(scenario["dir"], scenario["launches"], reference)
    assert not problems, (
        describe_launches(scenario["launches"]) + "\n" + "\n".join(problems)
    )
    events = read_log(Path(scenario["dir"]) / "runs.log")
    for trial in ("02", "06"):
        assert sum(e["event"] == "start" and e["trial"] == trial for e in events) == 1


def test_max_consecutive_failed_trials_stops_the_search(batch):
    scenario = batch["consecutive-limit"]
    first = scenario["launches"][0]
    assert first["rc"] == 1
    assert (
        "Number of consecutive failures exceeded the limit of 2"
        in (first["output_tail"])
    )
    events = split_launches(scenario["dir"])[0]
    assert [e["trial"] for e in events if e["event"] == "start"] == [
        "00",
        "01",
        "02",
        "03",
    ]


def test_trials_that_hit_the_failure_limit_are_not_rerun(batch):
    """The trial that reaches `max_consecutive_failed_trials` must be saved.

    Keras Tuner's `Oracle.end_trial` raises the limit error before it writes
    the trial's FAILED status (and the oracle state), so a resume runs that
    failed trial again.
    """
    scenario = batch["consecutive-limit"]
    first, second = split_launches(scenario["dir"])[:2]
    saved = {e["trial"]: e["status"] for e in first if e["event"] == "persisted"}
    assert saved.get("02") == "FAILED"
    assert saved.get("03") == "FAILED", (
        "the trial that hit the limit was not recorded as FAILED before the "
        "search stopped"
    )
    rerun = [e["trial"] for e in second if e["event"] == "start"]
    assert "02" not in rerun and "03" not in rerun, f"resume ran again: {rerun}"
