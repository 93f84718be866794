"""Interrupt a two-stage search, resume it, and check that no trial ran twice.

1. The search (IMDB sample, `build_tuner` of the `quick` preset) starts in a
   child process, which this script kills (SIGKILL on POSIX: no clean-up, as
   an out-of-memory kill or a lost machine would) once a few trials have
   ended.
2. It reads what the killed search left on disk: the trials that ended, their
   scores and checkpoints, and the trial that was running.
3. It creates the tuner again on the same directory with `overwrite=False`
   (Keras Tuner's default) and calls `search` again: the tuner prints where it
   stands and runs only what is missing. The interrupted trial restarts from
   its first epoch; the ended ones are kept.
4. It checks that the kept trials have the same scores and untouched
   checkpoints, and that this run trained exactly the trials that had not
   ended.

Run it from the repository root:

    python examples/resume.py                 # the quick preset: a few minutes
    python examples/resume.py --small         # under a minute (also:
                                              # KT_TWOSTAGE_EXAMPLE_SMALL=1)
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import keras
from _common import (
    SMALL,
    example_settings,
    load_reviews,
    parse_example_args,
    parser_for,
)

from kt_twostage.imdb.search import build_tuner, run_search

# The `--small` setting: 3 architectures and 3 learning rates, 1 epoch each, on
# 400 short reviews; the search is killed after 2 trials.
SMALL_THREE = {**SMALL, "units_max": 12, "stage2_trials": 3}


def parse_args():
    parser = parser_for(__doc__)
    parser.add_argument(
        "--interrupt-after", type=int, help="kill after this many ended trials"
    )
    parser.add_argument("--run-search", action="store_true", help=argparse.SUPPRESS)
    args = parse_example_args(parser)
    if args.interrupt_after is None:
        args.interrupt_after = 2 if args.small else 3
    return args


def make_settings(args, overwrite):
    return example_settings(
        args, "resume_example", small=SMALL_THREE, overwrite=overwrite
    )


def search(settings, small, callbacks=()):
    x, y, _, _ = load_reviews(settings, small)
    tuner = build_tuner(settings)
    return run_search(tuner, settings, x, y, callbacks=list(callbacks))


def read_trials(project_dir):
    """{trial_id: (status, score, checkpoint stats)} from the trial files."""
    trials = {}
    for path in sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json"))):
        with open(path) as f:
            state = json.load(f)
        checkpoints = glob.glob(os.path.join(os.path.dirname(path), "checkpoint*"))
        stats = sorted(
            (name, os.stat(name).st_mtime_ns, os.stat(name).st_size)
            for name in checkpoints
        )
        trials[state["trial_id"]] = (state["status"], state["score"], stats)
    return trials


def ended(trials):
    return [i for i, (status, _, _) in trials.items() if status in _ENDED]


_ENDED = ("COMPLETED", "FAILED")


class CountTrainings(keras.callbacks.Callback):
    """Counts `fit` calls in this process (one per trial).

    Keras Tuner copies the callbacks of each trial, so the count is kept on the
    class rather than on the instance.
    """

    count = 0

    def on_train_begin(self, logs=None):
        CountTrainings.count += 1


def interrupt_search(args, project_dir):
    """Runs the search in a child process and kills it after a few trials."""
    shutil.rmtree(project_dir, ignore_errors=True)  # start from scratch
    command = [sys.executable, os.path.abspath(__file__), "--run-search"]
    command += ["--directory", args.directory] + (["--small"] if args.small else [])
    child = subprocess.Popen(command)
    deadline = time.monotonic() + 600
    while len(ended(read_trials(project_dir))) < args.interrupt_after:
        if child.poll() is not None:
            raise SystemExit(
                f"the search exited (status {child.returncode}) before "
                f"{args.interrupt_after} trials ended: nothing to interrupt"
            )
        if time.monotonic() > deadline:
            child.kill()
            raise SystemExit("the search took too long; gave up")
        time.sleep(0.1)
    child.kill()
    child.wait()


def main():
    args = parse_args()
    if args.run_search:  # the child process: a fresh search, killed midway
        search(make_settings(args, overwrite=True), args.small)
        return

    settings = make_settings(args, overwrite=False)
    project_dir = os.path.join(settings.directory, settings.project_name)

    interrupt_search(args, project_dir)
    before = read_trials(project_dir)
    kept = ended(before)
    running = [i for i in before if i not in kept]
    print(f"killed the search: {len(kept)} trials ended ({', '.join(kept)}),", end="")
    print(f" running when killed: {', '.join(running) or 'none'}")

    tuner = search(settings, args.small, callbacks=[CountTrainings()])
    after = read_trials(project_dir)
    total = tuner.oracle.max_trials  # the schedule's length
    trained = [i for i in ended(after) if i not in kept]
    print(f"resumed: trained {CountTrainings.count} trials ({', '.join(trained)})")
    print(f"all {len(ended(after))} of {total} trials ended")

    # Nothing was rerun: every kept trial has its old score and checkpoint,
    # and this run trained exactly the trials that had not ended.
    changed = [i for i in kept if after[i] != before[i]]
    if changed:
        raise SystemExit(f"the resume changed trials {changed}")
    if not CountTrainings.count == len(trained) == total - len(kept):
        raise SystemExit(
            f"expected {total - len(kept)} trainings, got {CountTrainings.count}"
        )
    print(f"kept {len(kept)} trials unchanged, reran none of them")
    best = tuner.get_best_hyperparameters(1)[0]
    print(f"chosen: units={best['units']} learning_rate={best['learning_rate']:.6g}")


if __name__ == "__main__":
    main()
