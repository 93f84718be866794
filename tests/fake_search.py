"""A `TwoStageTuner` search with a fake trainer, for kill-and-resume tests.

Run it as a script::

    python tests/fake_search.py DIR [--stage2-trials 5] [--sleep 0.01]
        [--fail raise:units=30] [--fail nan:lr=0.01] [--kill SPEC] [--overwrite]

The project lives in DIR/project and is resumed (`overwrite=False`) unless
`--overwrite` is given. `run_trial` trains nothing: it returns a deterministic
score computed from `units` and `learning_rate` (the same shape as
`score_from_values` in tests/oracle_driver.py: best at units 20 and learning
rate 0.004, so that stage 2 both halves and moves back). At the end the final
choice is printed as one line of JSON and written to DIR/final.json.

Every event that a test needs to count is appended to DIR/runs.log as one JSON
line, written, flushed and fsynced before the process goes on:

- ``launch``: the process started (with its pid and arguments);
- ``start`` / ``done``: `run_trial` began / returned or raised (``done`` is
  written before `run_trial` returns, so a trial that ran to its end is
  counted even if the process is killed right after);
- ``persist_begin`` / ``persisted``: the oracle is about to write / has
  written a trial file whose status says the trial ended (COMPLETED or
  FAILED): from then on a resume must never run that trial again;
- ``kill``: a kill point fired (the process SIGKILLs itself right after);
- ``finish``: the search returned (with the final choice).

Kill points (``--kill SPEC`` or the environment variable FAKE_SEARCH_KILL)
make the process SIGKILL itself at a precise, reproducible point. SPEC is
``EVENT[@TRIAL][#N]``: the N-th time (default 1) that EVENT happens in this
process, counting only the events of trial TRIAL if given. Events:

- ``run:begin``, ``run:scored`` (score computed, nothing logged),
  ``run:logged`` (the ``done`` line is written, `run_trial` has not returned);
- ``write:NAME:begin`` / ``write:NAME:mid`` / ``write:NAME:end`` for every
  state file write, NAME being ``trial.json``, ``oracle.json`` or
  ``tuner0.json``. ``mid`` kills in the middle of the write: for an atomic
  write (`kt_twostage._io.atomic_write_text`) after the temporary file is
  written and before `os.replace`; for a plain write
  (`keras_tuner.src.utils.save_json`, which Keras Tuner uses for
  ``tuner0.json``) after the file has been truncated and half written;
- ``oracle.create_trial:begin|end``, ``oracle.update_trial:end``,
  ``oracle.end_trial:begin|end``, ``oracle._save_trial:begin|end``,
  ``oracle.save:begin|end``, ``tuner.save:begin|end``.

Without a trial filter, N counts every occurrence: ``oracle.save:end#7`` is
the seventh oracle save of the process. ``--trace`` logs every event (as
``trace`` lines) to find the N of a point.

The trial of an event is the trial it concerns: for ``trial.json`` writes and
``_save_trial`` the trial written, otherwise the trial most recently created,
saved or run in this process ("-" before any).

``python tests/fake_search.py --batch SCENARIOS.json RESULTS.json`` runs many
kill/resume scenarios in one process: it imports TensorFlow once and forks a
fresh child for every launch (each child is an independent process that
reloads the project from disk, exactly like a relaunch), so that a test suite
does not pay the TensorFlow import for every launch.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import signal
import sys
import tempfile
import time
import traceback

UNITS_GRID = (10, 50, 10)  # min, max, step
LEARNING_RATE_RANGE = (1e-6, 0.02)
DEFAULT_LEARNING_RATE = 0.001
PROJECT_NAME = "project"
KILL_ENV = "FAKE_SEARCH_KILL"
ENDED_STATUSES = ("COMPLETED", "FAILED")


def score_of(units, learning_rate):
    """Best at units 20 and learning rate 0.004 (as `score_from_values`)."""
    return 1.0 - abs(units - 20) / 100 - abs(math.log2(learning_rate / 0.004)) / 50


# ---------------------------------------------------------------------- #
# The append-only run log.
# ---------------------------------------------------------------------- #
class RunLog:
    """Appends JSON lines, each fsynced before `write` returns."""

    def __init__(self, path):
        self.path = str(path)
        self.token = f"{os.getpid()}-{os.urandom(4).hex()}"

    def write(self, event, **fields):
        line = json.dumps({"event": event, "launch": self.token, **fields})
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


def read_log(path):
    """The lines of a run log; a torn last line (killed mid-write) is skipped."""
    events = []
    if not os.path.exists(path):
        return events
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    return events


# ---------------------------------------------------------------------- #
# Kill points.
# ---------------------------------------------------------------------- #
class KillSwitch:
    """Counts events; says when the one named by the kill spec is reached."""

    def __init__(self, spec, log, trace=False):
        self.spec = spec or None
        self.log = log
        self.trace = trace
        self.event = self.trial = None
        self.n = 1
        if self.spec:
            rest = self.spec
            if "#" in rest:
                rest, n = rest.rsplit("#", 1)
                self.n = int(n)
            if "@" in rest:
                rest, self.trial = rest.split("@", 1)
            self.event = rest
            if self.n < 1 or not self.event:
                raise ValueError(f"invalid kill spec {spec!r}")
        self.counts = collections.Counter()
        self.current = "-"
        self.persisted_in_call = False

    def reached(self, event, trial=None):
        """Count `event`; True if the process must die now."""
        trial = self.current if trial is None else trial
        if self.trace:
            self.log.write("trace", at=event, trial=trial)
        if event != self.event:
            return False
        if self.trial is not None and trial != self.trial:
            return False
        self.counts[trial if self.trial is not None else None] += 1
        return self.counts[trial if self.trial is not None else None] == self.n

    def point(self, event, trial=None):
        if self.reached(event, trial):
            self.die(event, trial)

    def die(self, event, trial=None):
        trial = self.current if trial is None else trial
        self.log.write("kill", at=self.spec, point=event, trial=trial)
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # pragma: no cover - SIGKILL cannot be caught
        os._exit(99)  # pragma: no cover


_SWITCH = None  # the KillSwitch of this process (hooks are installed once)


def _trial_of_path(path):
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return parent[len("trial_") :] if parent.startswith("trial_") else None


def _log_if_ended(switch, name, text):
    """Log `persisted` as soon as a trial file saying "ended" is in place."""
    if name != "trial.json":
        return
    state = json.loads(text)
    if state.get("status") in ENDED_STATUSES:
        switch.log.write(
            "persisted", trial=state.get("trial_id"), status=state["status"]
        )
        switch.persisted_in_call = True


def _die_in_replace(*_args, **_kwargs):
    _SWITCH.die(_SWITCH._mid_event, _SWITCH._mid_trial)


def _arm_mid_write_kill(path, text):
    """Make this process die in the middle of the coming write of `path`.

    Renaming a file into place kills (an atomic write has its temporary file
    complete); opening `path` itself for writing truncates it, writes half of
    `text` and kills (what a plain write leaves when a crash hits it). The
    process dies either way, so nothing is restored.
    """
    import builtins

    target = os.path.abspath(path)
    real_open, real_os_open = builtins.open, os.open

    def is_target(file):
        return (
            isinstance(file, (str, bytes, os.PathLike))
            and os.path.abspath(os.fsdecode(file)) == target
        )

    def torn_write():
        fd = real_os_open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, text[: len(text) // 2].encode("utf-8"))
        os.fsync(fd)
        _die_in_replace()

    def guarded_open(file, mode="r", *args, **kwargs):
        if is_target(file) and any(flag in mode for flag in "wax+"):
            torn_write()
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(file, flags, *args, **kwargs):
        if is_target(file) and flags & (os.O_WRONLY | os.O_RDWR):
            torn_write()
        return real_os_open(file, flags, *args, **kwargs)

    builtins.open = guarded_open
    os.open = guarded_os_open
    os.replace = _die_in_replace
    os.rename = _die_in_replace


def install_hooks():
    """Wrap the library's state writes with kill points (once per process)."""
    import keras_tuner.src.utils as kt_utils
    from keras_tuner.engine import trial as trial_module

    from kt_twostage import _io
    from kt_twostage.oracle import TwoStageOracle

    if getattr(TwoStageOracle, "_fake_search_hooked", False):
        return
    TwoStageOracle._fake_search_hooked = True

    def switch():
        return _SWITCH

    # Atomic writes (oracle.json, trial.json; tuner0.json if the library
    # ever writes it through `_io`).
    real_atomic_write_text = _io.atomic_write_text

    def atomic_write_text(path, text):
        name = os.path.basename(str(path))
        trial = _trial_of_path(path)
        s = switch()
        s.point(f"write:{name}:begin", trial)
        if s.reached(f"write:{name}:mid", trial):
            # Die after the temporary file is complete, before it replaces
            # the real one; or, should the write open the real file itself
            # (not atomic), half-way through writing it.
            s._mid_event, s._mid_trial = f"write:{name}:mid", trial
            _arm_mid_write_kill(path, text)
            real_atomic_write_text(path, text)
            s.die(f"write:{name}:mid(after-write)", trial)
        real_atomic_write_text(path, text)
        _log_if_ended(s, name, text)
        s.point(f"write:{name}:end", trial)

    _io.atomic_write_text = atomic_write_text

    # Plain writes (Keras Tuner's `Stateful.save`, used for tuner0.json).
    real_save_json = kt_utils.save_json

    def save_json(path, obj):
        name = os.path.basename(str(path))
        trial = _trial_of_path(path)
        s = switch()
        s.point(f"write:{name}:begin", trial)
        if s.reached(f"write:{name}:mid", trial):
            # What `open(path, "w"); f.write(text)` leaves when the process
            # dies between the two: a truncated, half-written file.
            text = json.dumps(obj)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text[: len(text) // 2])
                handle.flush()
                os.fsync(handle.fileno())
            s.die(f"write:{name}:mid", trial)
        result = real_save_json(path, obj)
        _log_if_ended(s, name, json.dumps(obj))
        s.point(f"write:{name}:end", trial)
        return result

    kt_utils.save_json = save_json

    real_create_trial = TwoStageOracle.create_trial
    real_update_trial = TwoStageOracle.update_trial
    real_end_trial = TwoStageOracle.end_trial
    real_save_trial = TwoStageOracle._save_trial
    real_save = TwoStageOracle.save

    def create_trial(self, tuner_id):
        s = switch()
        s.point("oracle.create_trial:begin")
        trial = real_create_trial(self, tuner_id)
        if trial.status == trial_module.TrialStatus.RUNNING:
            s.current = trial.trial_id
        s.point("oracle.create_trial:end")
        return trial

    def update_trial(self, trial_id, metrics, step=0):
        result = real_update_trial(self, trial_id, metrics, step)
        switch().point("oracle.update_trial:end", trial_id)
        return result

    def end_trial(self, trial):
        s = switch()
        s.point("oracle.end_trial:begin", trial.trial_id)
        real_end_trial(self, trial)
        s.point("oracle.end_trial:end", trial.trial_id)

    def _save_trial(self, trial):
        s = switch()
        s.current = trial.trial_id
        ended = trial.status in ENDED_STATUSES
        s.point("oracle._save_trial:begin", trial.trial_id)
        if ended:
            s.log.write("persist_begin", trial=trial.trial_id, status=trial.status)
        s.persisted_in_call = False
        real_save_trial(self, trial)
        if ended and not s.persisted_in_call:
            # Written some other way than the hooked writes.
            s.log.write("persisted", trial=trial.trial_id, status=trial.status)
        s.point("oracle._save_trial:end", trial.trial_id)

    def save(self):
        s = switch()
        s.point("oracle.save:begin")
        real_save(self)
        s.point("oracle.save:end")

    TwoStageOracle.create_trial = create_trial
    TwoStageOracle.update_trial = update_trial
    TwoStageOracle.end_trial = end_trial
    TwoStageOracle._save_trial = _save_trial
    TwoStageOracle.save = save


# ---------------------------------------------------------------------- #
# The search.
# ---------------------------------------------------------------------- #
def parse_failure(text):
    """`ACTION:KEY=VALUE`, ACTION raise|failed|nan, KEY units|lr|trial."""
    try:
        action, condition = text.split(":", 1)
        key, value = condition.split("=", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid --fail {text!r}") from None
    if action not in ("raise", "failed", "nan") or key not in ("units", "lr", "trial"):
        raise argparse.ArgumentTypeError(f"invalid --fail {text!r}")
    return action, key, value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--project-name", default=PROJECT_NAME)
    parser.add_argument("--stage1-epochs", type=int, default=1)
    parser.add_argument("--stage2-epochs", type=int, default=3)
    parser.add_argument("--stage2-trials", type=int, default=5)
    parser.add_argument("--units", type=int, nargs=3, default=UNITS_GRID)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--fail", type=parse_failure, action="append", default=[])
    parser.add_argument("--max-consecutive-failed-trials", type=int, default=3)
    parser.add_argument("--max-retries-per-trial", type=int, default=0)
    parser.add_argument("--kill", default=os.environ.get(KILL_ENV) or None)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--overwrite", action="store_true")
    return parser.parse_args(argv)


def failure_for(failures, trial_id, units, learning_rate):
    for action, key, value in failures:
        if key == "units" and units == int(value):
            return action
        if key == "lr" and math.isclose(learning_rate, float(value), rel_tol=1e-9):
            return action
        if key == "trial" and trial_id == value:
            return action
    return None


def make_tuner_class():
    import keras_tuner

    from kt_twostage import TwoStageTuner
    from kt_twostage.oracle import EPOCHS_KEY, STAGE_KEY

    class FakeTrainerTuner(TwoStageTuner):
        """Scores a trial from its values instead of training a model."""

        def __init__(self, *args, failures=(), sleep=0.0, **kwargs):
            self.failures = list(failures)
            self.sleep = sleep
            super().__init__(*args, **kwargs)

        def run_trial(self, trial, *args, **kwargs):
            s = _SWITCH
            values = trial.hyperparameters.values
            record = {
                "trial": trial.trial_id,
                "stage": values[STAGE_KEY],
                "units": values["units"],
                "lr": values["learning_rate"],
                "epochs": values[EPOCHS_KEY],
            }
            s.current = trial.trial_id
            s.log.write("start", **record)
            s.point("run:begin")
            if self.sleep:
                time.sleep(self.sleep)
            action = failure_for(
                self.failures, trial.trial_id, record["units"], record["lr"]
            )
            if action in ("raise", "failed"):
                s.log.write("done", outcome=action, **record)
                s.point("run:logged")
                if action == "failed":
                    raise keras_tuner.errors.FailedTrialError("fake failure")
                raise RuntimeError(f"fake error in trial {trial.trial_id}")
            score = (
                float("nan")
                if action == "nan"
                else score_of(record["units"], record["lr"])
            )
            s.point("run:scored")
            s.log.write("done", outcome=action or "ok", score=score, **record)
            s.point("run:logged")
            return score

        def save(self):
            _SWITCH.point("tuner.save:begin")
            super().save()
            _SWITCH.point("tuner.save:end")

    return FakeTrainerTuner


def _write_json_atomically(path, obj):
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def main(argv=None):
    global _SWITCH
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(args.directory, exist_ok=True)
    log = RunLog(os.path.join(args.directory, "runs.log"))
    _SWITCH = KillSwitch(args.kill, log, trace=args.trace)
    log.write(
        "launch", pid=os.getpid(), argv=list(argv or sys.argv[1:]), kill=args.kill
    )

    import keras_tuner

    install_hooks()
    hyperparameters = keras_tuner.HyperParameters()
    low, high, step = args.units
    hyperparameters.Int("units", low, high, step=step)
    hyperparameters.Float(
        "learning_rate",
        *LEARNING_RATE_RANGE,
        sampling="log",
        default=DEFAULT_LEARNING_RATE,
    )
    tuner = make_tuner_class()(
        hypermodel=None,
        objective=keras_tuner.Objective("score", "max"),
        stage1_epochs=args.stage1_epochs,
        stage2_epochs=args.stage2_epochs,
        stage2_trials=args.stage2_trials,
        hyperparameters=hyperparameters,
        max_consecutive_failed_trials=args.max_consecutive_failed_trials,
        max_retries_per_trial=args.max_retries_per_trial,
        failures=args.fail,
        sleep=args.sleep,
        directory=args.directory,
        project_name=args.project_name,
        overwrite=args.overwrite,
    )
    tuner.search(verbose=0)
    best = tuner.oracle.get_best_trials(1)[0]
    final = {
        "trial_id": best.trial_id,
        "status": best.status,
        "score": best.score,
        "values": dict(best.hyperparameters.values),
        "best_hyperparameters": dict(tuner.get_best_hyperparameters()[0].values),
    }
    _write_json_atomically(os.path.join(args.directory, "final.json"), final)
    log.write("finish", final=final)
    print(json.dumps(final, sort_keys=True))
    sys.stdout.flush()
    return 0


# ---------------------------------------------------------------------- #
# Batch mode: many launches, one TensorFlow import.
# ---------------------------------------------------------------------- #
def _fork_launch(argv, output_path, kill_after=None, kill_from="launch", timeout=20.0):
    """Run `main(argv)` in a forked child; returns (exit code, seconds).

    The exit code is negative for a signal (-9: SIGKILL), as in subprocess.
    With `kill_after`, the parent SIGKILLs the child that many seconds after
    the child logged its first `kill_from` event (`launch`: it started;
    `start`: its first trial started; never, if it logs none).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    log_path = os.path.join(argv[0], "runs.log")
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            code = main(argv)
        except SystemExit as error:
            code = error.code if isinstance(error.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(fd)
    deadline = started + timeout
    killed_by_parent = False
    launched = None  # when the child's `launch` line appeared in the run log
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        now = time.monotonic()
        if kill_after is not None and not killed_by_parent:
            if launched is None and any(
                e["event"] == kill_from and e["launch"].startswith(f"{pid}-")
                for e in read_log(log_path)
            ):
                launched = now
            if launched is not None and now - launched >= kill_after:
                os.kill(pid, signal.SIGKILL)
                killed_by_parent = True
        if now >= deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return "timeout", time.monotonic() - started
        time.sleep(0.002)
    return os.waitstatus_to_exitcode(status), time.monotonic() - started


def run_scenario(scenario):
    """Run the launches of one scenario; returns what each launch did.

    A scenario is {"name", "dir", "args": [...], "launches": [launch, ...],
    "resume_until_done": bool}; a launch is {"kill": SPEC or None,
    "kill_after": seconds or None, "kill_from": "launch" or "start",
    "args": [...]}. With `resume_until_done`,
    plain resumes follow until one exits 0 (at most 4).
    """
    directory = scenario["dir"]
    os.makedirs(directory, exist_ok=True)
    launches = list(scenario["launches"])
    if scenario.get("resume_until_done", True):
        launches += [{"resume": True}] * 4
    results = []
    for index, launch in enumerate(launches):
        if launch.get("resume") and results and results[-1]["rc"] == 0:
            break
        argv = [directory, *scenario.get("args", []), *launch.get("args", [])]
        if launch.get("kill"):
            argv += ["--kill", launch["kill"]]
        output = os.path.join(
            os.path.dirname(directory), f"{scenario['name']}.{index}.out"
        )
        rc, seconds = _fork_launch(
            argv,
            output,
            kill_after=launch.get("kill_after"),
            kill_from=launch.get("kill_from", "launch"),
        )
        with open(output, encoding="utf-8", errors="replace") as handle:
            tail = handle.read()[-3000:]
        results.append(
            {
                "argv": argv,
                "kill": launch.get("kill"),
                "kill_after": launch.get("kill_after"),
                "rc": rc,
                "seconds": round(seconds, 3),
                "output_tail": tail,
            }
        )
        if rc == "timeout":
            break
    return results


def run_batch(scenarios_path, results_path):
    # Import everything once, before forking.
    import keras_tuner  # noqa: F401

    import kt_twostage  # noqa: F401

    with open(scenarios_path, encoding="utf-8") as handle:
        scenarios = json.load(handle)
    results = {}
    started = time.monotonic()
    for scenario in scenarios:
        results[scenario["name"]] = run_scenario(scenario)
    _write_json_atomically(
        results_path,
        {"scenarios": results, "seconds": round(time.monotonic() - started, 2)},
    )
    return 0


if __name__ == "__main__":
    _root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if _root not in sys.path:
        sys.path.insert(0, _root)
    if len(sys.argv) > 1 and sys.argv[1] == "--batch":
        sys.exit(run_batch(sys.argv[2], sys.argv[3]))
    sys.exit(main())
