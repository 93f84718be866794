"""Distributed tuning: stage-1 and stage-2 wall time with 1, 2 and 3 workers.

The trainer is fake: every trial sleeps a fixed time (`--trial-seconds`,
default 2 s) whatever its epochs, then returns a score computed from (units,
learning rate). So the numbers measure the schedule and Keras Tuner's
chief/worker machinery (gRPC, state files), not training; with real training
each worker also needs its own CPU cores or GPU.

Each configuration runs a real chief and real workers on 127.0.0.1
(`kt_twostage.distributed.launch_local`), each process a fresh Python that
imports TensorFlow. Times come from the trials' start/end events, so process
start-up is not counted.

    python benchmarks/bench_distributed.py            # about 3 minutes
    python benchmarks/bench_distributed.py --trial-seconds 1 --units 10,40,10

Reported, per configuration (workers, stage2_parallelism):

- stage-1 wall time: first stage-1 start to last stage-1 end;
- stage-2 wall time: first stage-2 start to the end of the last path trial,
  and the same in trial durations ("rounds");
- stage-2 trials: path + off-path (the extra compute of speculation);
- whether the path and the chosen trial equal the sequential schedule's.

Then, from the pure planner (`tests/stage2_simulation.py`, rounds of
equally long trials), rounds and extra trials for 11 stage-2 steps averaged
over 1000 random score tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

MAX_LEARNING_RATE = 0.02


def score_of(units, learning_rate):
    """Best at units 20 and learning rate 0.004 (as tests/oracle_driver.py)."""
    return 1.0 - abs(units - 20) / 100 - abs(math.log2(learning_rate / 0.004)) / 50


def log_event(directory, event, **fields):
    line = json.dumps({"event": event, "time": time.time(), **fields})
    fd = os.open(
        os.path.join(directory, "events.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT
    )
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- #
# One process of a distributed search (role from KERASTUNER_TUNER_ID).
# --------------------------------------------------------------------------- #
def process_main(args):
    import keras_tuner as kt

    from kt_twostage import TwoStageTuner

    tuner_id = os.environ["KERASTUNER_TUNER_ID"]
    low, high, step = args.units

    def build(hp):
        hp.Int("units", low, high, step=step)
        hp.Float("learning_rate", 1e-6, MAX_LEARNING_RATE, sampling="log", default=1e-3)

    class SleepingTuner(TwoStageTuner):
        def run_trial(self, trial, *fit_args, **fit_kwargs):
            values = trial.hyperparameters.values
            log_event(args.directory, "start", trial=trial.trial_id, tuner=tuner_id)
            time.sleep(args.trial_seconds)
            score = score_of(values["units"], values["learning_rate"])
            log_event(args.directory, "done", trial=trial.trial_id, tuner=tuner_id)
            return {"score": score}

    tuner = SleepingTuner(
        build,
        objective=kt.Objective("score", "max"),
        stage2_trials=args.stage2_trials,
        stage2_parallelism=args.parallelism,
        directory=args.directory,
        project_name="project",
    )
    tuner.search(verbose=0)
    if tuner_id != "chief":
        return 0
    oracle = tuner.oracle
    summary = {
        "trials": {
            trial_id: {
                "stage": trial.hyperparameters.values["tuner/stage"],
                "units": trial.hyperparameters.values["units"],
                "learning_rate": trial.hyperparameters.values["learning_rate"],
            }
            for trial_id, trial in oracle.trials.items()
        },
        "path": oracle.stage2_path(),
        "roles": oracle.trial_roles(),
        "chosen": oracle.get_best_trials(1)[0].trial_id,
        "max_trials": oracle.max_trials,
    }
    with open(os.path.join(args.directory, "summary.json"), "w") as handle:
        json.dump(summary, handle)
    return 0


# --------------------------------------------------------------------------- #
# The benchmark.
# --------------------------------------------------------------------------- #
def run_configuration(workers, parallelism, args, root):
    from kt_twostage import distributed

    directory = os.path.join(root, f"w{workers}-p{parallelism}")
    os.makedirs(directory)
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--process",
        directory,
        "--trial-seconds",
        str(args.trial_seconds),
        "--stage2-trials",
        str(args.stage2_trials),
        "--parallelism",
        str(parallelism),
        "--units",
        ",".join(map(str, args.units)),
    ]
    with open(os.path.join(directory, "output.log"), "w") as output:
        status = distributed.launch_local(command, workers, output=output)
    if status != 0:
        raise RuntimeError(f"workers={workers} failed; see {directory}/output.log")
    with open(os.path.join(directory, "events.log")) as handle:
        events = [json.loads(line) for line in handle]
    with open(os.path.join(directory, "summary.json")) as handle:
        summary = json.load(handle)
    trials = summary["trials"]
    start = {e["trial"]: e["time"] for e in events if e["event"] == "start"}
    end = {e["trial"]: e["time"] for e in events if e["event"] == "done"}
    stage1 = [t for t, v in trials.items() if v["stage"] == 1]
    stage2 = [t for t, v in trials.items() if v["stage"] == 2]
    stage1_wall = max(end[t] for t in stage1) - min(start[t] for t in stage1)
    stage2_wall = max(end[t] for t in summary["path"]) - min(start[t] for t in stage2)
    path = [trials[t] for t in summary["path"]]
    return {
        "workers": workers,
        "parallelism": parallelism,
        "stage1_wall": stage1_wall,
        "stage2_wall": stage2_wall,
        "stage2_rounds": stage2_wall / args.trial_seconds,
        "stage2_trials": len(stage2),
        "off_path": sum(1 for r in summary["roles"].values() if r == "off-path"),
        "path": [(p["units"], p["learning_rate"]) for p in path],
        "chosen": (
            trials[summary["chosen"]]["units"],
            trials[summary["chosen"]]["learning_rate"],
        ),
        "max_trials": summary["max_trials"],
    }


def sequential_reference(args):
    from kt_twostage import schedule

    low, high, step = args.units
    grid = list(range(low, high + 1, step))
    units = grid[schedule.best_index([score_of(u, 1e-3) for u in grid], "max")]
    scores = []
    for _ in range(args.stage2_trials):
        rate = schedule.stage2_learning_rates(scores, MAX_LEARNING_RATE, "max")[-1]
        scores.append(score_of(units, rate))
    rates = schedule.stage2_learning_rates(scores, MAX_LEARNING_RATE, "max")
    path = [(units, rate) for rate in rates[: args.stage2_trials]]
    return path, path[schedule.best_index(scores, "max")]


def simulated(stage2_trials, parallelism, tables=1000):
    # The simulation is test code, kept beside the tests.
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "tests"))
    from stage2_simulation import simulate_rounds

    rounds, extra = [], []
    for seed in range(tables):
        rng = random.Random(seed)
        table = {}

        def score_of_lr(rate, rng=rng, table=table):
            return table.setdefault(rate, rng.random())

        run = simulate_rounds(
            score_of_lr, stage2_trials, MAX_LEARNING_RATE, "max", parallelism
        )
        rounds.append(run.rounds)
        extra.append(run.trials - stage2_trials)
    return statistics.mean(rounds), max(rounds), statistics.mean(extra), max(extra)


def bench_main(args):
    reference_path, reference_choice = sequential_reference(args)
    root = tempfile.mkdtemp(prefix="bench_distributed_")
    rows = []
    try:
        for workers, parallelism in ((1, 1), (2, 1), (3, 1), (3, 3)):
            row = run_configuration(workers, parallelism, args, root)
            row["same"] = [tuple(p) for p in row["path"]] == reference_path and tuple(
                row["chosen"]
            ) == reference_choice
            rows.append(row)
            print(
                f"workers={workers} parallelism={parallelism}: stage 1 "
                f"{row['stage1_wall']:.1f} s, stage 2 {row['stage2_wall']:.1f} s",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    low, high, step = args.units
    grid = len(range(low, high + 1, step))
    print()
    print(
        f"Fake trainer: every trial sleeps {args.trial_seconds:g} s; {grid} stage-1 "
        f"trials, {args.stage2_trials} stage-2 steps."
    )
    print()
    print(
        "| workers | stage2_parallelism | stage 1 wall | stage 2 wall | stage 2 "
        "rounds | stage-2 trials (off path) | max_trials | same path and choice |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['workers']} | {r['parallelism']} | {r['stage1_wall']:.1f} s | "
            f"{r['stage2_wall']:.1f} s | {r['stage2_rounds']:.1f} | "
            f"{r['stage2_trials']} ({r['off_path']}) | {r['max_trials']} | "
            f"{'yes' if r['same'] else 'NO'} |"
        )
    print()
    print(
        "Pure schedule, rounds of equally long trials, 11 stage-2 steps, 1000 "
        "random score tables:"
    )
    print()
    print("| stage2_parallelism | rounds (mean, max) | extra trials (mean, max) |")
    print("|---|---|---|")
    for parallelism in (1, 2, 3, 4):
        mean_rounds, max_rounds, mean_extra, max_extra = simulated(11, parallelism)
        print(
            f"| {parallelism} | {mean_rounds:.2f}, {max_rounds} | "
            f"{mean_extra:.2f}, {max_extra} |"
        )
    return 0 if all(r["same"] for r in rows) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--process", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--trial-seconds", type=float, default=2.0)
    parser.add_argument("--stage2-trials", type=int, default=11)
    parser.add_argument("--parallelism", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument(
        "--units",
        type=lambda text: tuple(int(x) for x in text.split(",")),
        default=(10, 80, 10),
        help="stage-1 grid as MIN,MAX,STEP (default 10,80,10: 8 trials)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the projects")
    args = parser.parse_args(argv)
    if args.process:
        args.directory = args.process
        return process_main(args)
    return bench_main(args)


if __name__ == "__main__":
    sys.exit(main())
