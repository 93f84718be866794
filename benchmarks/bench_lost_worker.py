"""A worker lost for good: how long the search takes to finish without it.

The scenario of a machine that never comes back, with the real command line
and real training on the built-in sample: `kt-twostage search --preset quick
--serve 127.0.0.1:PORT --worker-timeout SECONDS` and two minimal
`kt-twostage worker` processes; worker1 is SIGKILLed one second after the
chief's `oracle.json` shows it running a trial, and is never restarted.
Before the lease the chief waited forever; now the trial goes to worker0
once worker1 has been silent for the worker timeout.

    python benchmarks/bench_lost_worker.py                     # timeout 30 s
    python benchmarks/bench_lost_worker.py --worker-timeout 60

Prints when worker1 was killed, when the chief exited (and its status), and
the chief's lines about the lost trial and the chosen model. Each process's
output is kept in the printed folder.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from kt_twostage.distributed import free_port


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="bench_lost_worker_")
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def start(name, *flags):
        with open(os.path.join(root, f"{name}.out"), "wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "kt_twostage", *flags],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=root,
            )

    started = time.monotonic()
    chief = start(
        *("chief", "search", "--preset", "quick", "--directory", root),
        *("--serve", address, "--worker-timeout", f"{args.worker_timeout:g}"),
    )
    workers = {
        name: start(
            *(name, "worker", "--chief", address, "--directory", root),
            *("--project-name", "imdb_quick", "--tuner-id", name),
        )
        for name in ("worker0", "worker1")
    }
    killed = None
    try:
        while killed is None and chief.poll() is None:
            running = _ongoing(os.path.join(root, "imdb_quick", "oracle.json"))
            if "worker1" in running:
                time.sleep(1)
                workers["worker1"].send_signal(signal.SIGKILL)
                killed = time.monotonic()
                print(
                    f"worker1 killed while running trial {running['worker1']}, "
                    f"{killed - started:.0f} s after the start"
                )
            time.sleep(0.2)
        status = chief.wait(timeout=3600)
        ended = time.monotonic()
    finally:
        for process in (chief, *workers.values()):
            if process.poll() is None:
                process.kill()
    since = f", {ended - killed:.0f} s after the kill" if killed else ""
    print(f"chief exit status {status}, {ended - started:.0f} s after the start{since}")
    with open(os.path.join(root, "chief.out"), errors="replace") as handle:
        for line in handle:
            if "goes back to the schedule" in line or line.startswith("chosen:"):
                print(line.rstrip())
    print(f"outputs in {root}")
    return status


def _ongoing(path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle).get("ongoing_trials", {})
    except (OSError, ValueError):
        return {}


if __name__ == "__main__":
    sys.exit(main())
