"""One two-stage search shared by a chief and workers (Keras Tuner's own mode).

Every process runs this same script; Keras Tuner's environment variables say
which role it has (see examples/distributed.md):

- KERASTUNER_TUNER_ID: `chief` for the process that holds the oracle, a
  unique id (`worker0`, `worker1`, ...) for each worker;
- KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT: where the chief listens (the
  chief binds to them; workers connect to them).

The chief trains nothing: it hands out trials over gRPC and decides the
schedule; workers train. In stage 1 the workers train grid values side by
side; stage 2 is sequential (each learning rate depends on the last score),
so one worker trains while the others wait. Without the variables the script
is an ordinary single-process search. `--local N` starts the processes with
`kt_twostage.distributed.launch_local`.

Run it from the repository root:

    # a chief and 2 workers on this machine, on 127.0.0.1 and a free port:
    python examples/distributed_search.py --local 2 [--small]
    # or by hand, one shell each (several machines: see distributed.md):
    KERASTUNER_TUNER_ID=chief  KERASTUNER_ORACLE_IP=127.0.0.1 \\
        KERASTUNER_ORACLE_PORT=8000 python examples/distributed_search.py
    KERASTUNER_TUNER_ID=worker0 KERASTUNER_ORACLE_IP=127.0.0.1 \\
        KERASTUNER_ORACLE_PORT=8000 python examples/distributed_search.py

`--small` (or KT_TWOSTAGE_EXAMPLE_SMALL=1) is a tiny run: under a minute. All
processes must use the same `--directory` (a shared folder across machines)
and settings. The project is resumed if it exists; `--local --overwrite`
deletes it first.
"""

import os
import shutil
import sys

from _common import example_settings, load_reviews, parse_example_args, parser_for

from kt_twostage import distributed
from kt_twostage.imdb.search import build_tuner, run_search


def parse_args():
    parser = parser_for(__doc__)
    parser.add_argument(
        "--local", type=int, metavar="N", help="start a chief and N workers here"
    )
    parser.add_argument("--overwrite", action="store_true", help="with --local")
    return parse_example_args(parser)


def settings_of(args):
    return example_settings(args, "distributed_example")


def run_this_process(args):
    """The chief, a worker, or (no variables) a plain single-process search."""
    role = os.environ.get("KERASTUNER_TUNER_ID", "chief")
    is_worker = "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in role
    settings = settings_of(args)
    x, y, _, _ = load_reviews(settings, args.small)

    # Never overwrite here: a worker would delete the chief's project.
    # The chief serves trials until the schedule ends; a worker trains
    # trials until the chief says stop.
    tuner = run_search(build_tuner(settings), settings, x, y)
    if is_worker:
        # The chief may be gone: ask it nothing more.
        print(f"{role} done: the chief says the search is over")
        return

    trials = tuner.oracle.get_best_trials(len(tuner.oracle.trials))
    best = trials[0]
    values = best.hyperparameters.values
    print(f"search over: {len(trials)} trials ended")
    print(
        f"chosen: units={values['units']} learning_rate={values['learning_rate']:.6g}"
        f" | val_accuracy={best.score:.4f}"
    )


def launch_local(args):
    """Starts this script as a chief and `args.local` workers on this machine."""
    if args.overwrite:
        settings = settings_of(args)
        shutil.rmtree(
            os.path.join(settings.directory, settings.project_name), ignore_errors=True
        )
    command = [sys.executable, os.path.abspath(__file__)]
    command += ["--directory", args.directory] + (["--small"] if args.small else [])
    # Sets the three variables for each process (chief, worker0, worker1, ...),
    # prefixes their output with their id, and stops them all if one fails.
    status = distributed.launch_local(command, args.local)
    if status:
        raise SystemExit(status)


def main():
    args = parse_args()
    if args.local:
        launch_local(args)
    else:
        run_this_process(args)


if __name__ == "__main__":
    main()
