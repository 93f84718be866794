"""`launch_local`: a chief and N workers on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from kt_twostage.distributed.addresses import (
    LOOPBACK,
    connect_host,
    format_address,
    free_port,
)
from kt_twostage.distributed.roles import CHIEF_ID, ORACLE_IP_ENV, role_environment


class _Child:
    def __init__(self, name, command, env, output, lock):
        self.name = name
        self.command = command
        self.env = env
        self.restarts = 0
        self.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.reader = threading.Thread(
            target=self._copy, args=(output, lock), daemon=True
        )
        self.reader.start()

    def _copy(self, output, lock):
        prefix = f"[{self.name}] "
        for raw in iter(self.process.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            with lock:
                output.write(prefix + line + "\n")
                output.flush()
        self.process.stdout.close()

    def poll(self):
        return self.process.poll()

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL if it has not exited after `timeout` seconds."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def describe_status(returncode):
    """`"exit status 1"` or `"killed by SIGKILL"`."""
    if returncode is not None and returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def launch_local(
    command,
    workers,
    *,
    worker_command=None,
    host=LOOPBACK,
    port=None,
    env=None,
    output=None,
    grace_seconds=30.0,
    poll_seconds=0.2,
    worker_restarts=3,
):
    """Run a chief and `workers` workers on this machine; wait for them.

    The chief runs `command` with `KERASTUNER_TUNER_ID=chief`, the workers
    `worker_command` (default: `command`) as `worker0`, `worker1`, ...; all
    with `KERASTUNER_ORACLE_IP` / `KERASTUNER_ORACLE_PORT` set. Each line a
    process prints is copied to `output` (default: stdout) after its name,
    e.g. `[worker1] `.

    A worker that fails is started again with the same id (it gets back the
    trial it was running), up to `worker_restarts` times; after that the
    search goes on without it (the chief gives its trial to another worker
    once the worker timeout has passed), unless no worker is left. If the
    chief fails, the workers are stopped; the search is resumed by running
    the same command again. When the chief has ended normally, workers still
    running after `grace_seconds` have nothing left to do and are stopped.

    Args:
        command: List of strings, the chief's command line.
        workers: Integer, number of workers (at least 1).
        worker_command: List of strings, the workers' command line.
        host: String, the address the chief listens on. Defaults to
            `127.0.0.1`: nothing is reachable from other machines.
        port: Integer, the chief's port. Defaults to a free port.
        env: Dict, the environment (defaults to `os.environ`), to which the
            role variables and `PYTHONUNBUFFERED=1` are added.
        output: A text stream for the processes' output.
        grace_seconds: Float, see above.
        poll_seconds: Float, how often the processes are checked.
        worker_restarts: Integer, how many times a failed worker is started
            again. Defaults to `3`.

    Returns:
        The chief's exit status (0 when the search finished, even if a worker
        failed on the way), or 1 if every worker failed for good first.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(
            f"Received an invalid number of workers {workers!r}: expected a "
            "positive integer."
        )
    output = output or sys.stdout
    port = port or free_port(host)
    base_env = dict(os.environ if env is None else env)
    base_env["PYTHONUNBUFFERED"] = "1"
    lock = threading.Lock()

    def say(text):
        with lock:
            output.write(f"[launcher] {text}\n")
            output.flush()

    def start(name, argv, address):
        environment = {**base_env, **role_environment(name, address, port)}
        return _Child(name, argv, environment, output, lock)

    say(
        f"chief on {format_address(host, port)}, {workers} worker(s); "
        "run the same command again to resume"
    )
    chief = start(CHIEF_ID, command, host)
    children = [chief]
    try:
        for index in range(workers):
            children.append(
                start(f"worker{index}", worker_command or command, connect_host(host))
            )
        supervisor = _Supervisor(children, say, start, worker_restarts)
        status = supervisor.run(grace_seconds, poll_seconds)
    except KeyboardInterrupt:
        say("interrupted: stopping every process")
        status = 130
    finally:
        for child in children:
            child.stop()
        for child in children:
            child.reader.join(timeout=5)
    return status


class _Supervisor:
    """Restarts failed workers; stops everything when the chief ends."""

    def __init__(self, children, say, start, worker_restarts):
        self.children = children  # the chief first; replaced workers in place
        self.say = say
        self.start = start
        self.worker_restarts = worker_restarts
        self.ended = set()

    def _check_workers(self, restart):
        for index, worker in enumerate(self.children[1:], start=1):
            code = worker.poll()
            if code is None or worker.name in self.ended:
                continue
            if code == 0:
                self.ended.add(worker.name)
                self.say(f"{worker.name} finished")
            elif restart and worker.restarts < self.worker_restarts:
                worker.reader.join(timeout=5)
                self.say(
                    f"{worker.name} failed ({describe_status(code)}): starting it "
                    f"again ({worker.restarts + 1} of {self.worker_restarts})"
                )
                replacement = self.start(
                    worker.name, worker.command, worker.env[ORACLE_IP_ENV]
                )
                replacement.restarts = worker.restarts + 1
                self.children[index] = replacement
            else:
                self.ended.add(worker.name)
                self.say(f"{worker.name} failed ({describe_status(code)}) for good")

    def run(self, grace_seconds, poll_seconds):
        chief = self.children[0]
        while True:
            self._check_workers(restart=True)
            code = chief.poll()
            if code is not None and code != 0:
                self.say(
                    f"chief failed ({describe_status(code)}): stopping the workers"
                )
                return code if code > 0 else 1
            if code == 0:
                self.say("chief finished")
                break
            if all(w.poll() not in (None, 0) for w in self.children[1:]) and all(
                w.name in self.ended for w in self.children[1:]
            ):
                self.say("every worker failed: stopping the chief")
                return 1
            time.sleep(poll_seconds)
        # The chief only ends once no trial runs: the workers are done or idle.
        deadline = time.monotonic() + grace_seconds
        while True:
            all_ended = all(w.poll() is not None for w in self.children[1:])
            self._check_workers(restart=False)
            if all_ended or time.monotonic() >= deadline:
                break
            time.sleep(poll_seconds)
        left = [w.name for w in self.children[1:] if w.poll() is None]
        if left:
            self.say(f"stopping {', '.join(left)}: the search is over")
        return 0
