"""Distributed tuning: the chief's oracle server, sturdy workers, a local launcher.

Keras Tuner's distributed mode runs one *chief* (the process that holds the
oracle and serves it over gRPC) and any number of *workers* (processes that
ask the chief for trials and train them). Every process runs the same search
script; three environment variables say which role it plays:

- `KERASTUNER_TUNER_ID`: `chief` for the chief, a unique id per worker
  (`worker0`, `worker1`, ...). A worker that restarts with the same id gets
  back the trial it was running.
- `KERASTUNER_ORACLE_IP`: the chief's address (the chief listens on it).
- `KERASTUNER_ORACLE_PORT`: the chief's port.

Keras Tuner's gRPC channel has no encryption and no authentication: see
docs/distributed.md before exposing a chief beyond 127.0.0.1.

This module adds, on top of Keras Tuner:

- `run_chief`, `tuner_file`, `prepare_worker`, `IdleBackoff`: what
  `TwoStageTuner` does differently as a chief or a worker;
- `serve_oracle`: the chief's server loop. It stops within a fraction of a
  second once the schedule is done and every worker has been told to stop
  (Keras Tuner's own loop checks every 20 seconds).
- `make_client_resilient`: a worker's calls to the chief are retried while
  the chief is unreachable (for example while it restarts), instead of
  failing the worker.
- `launch_local`: starts a chief and N workers on this machine, on
  127.0.0.1 and a free port, streams their output with a prefix, and stops
  them all if one fails.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time

TUNER_ID_ENV = "KERASTUNER_TUNER_ID"
ORACLE_IP_ENV = "KERASTUNER_ORACLE_IP"
ORACLE_PORT_ENV = "KERASTUNER_ORACLE_PORT"
CHIEF_ID = "chief"
LOOPBACK = "127.0.0.1"
# Addresses that listen on every interface: local workers reach them on
# the loopback address.
_ANY_ADDRESSES = ("0.0.0.0", "::", "[::]")


# --------------------------------------------------------------------------- #
# The tuner's hooks.
# --------------------------------------------------------------------------- #
def is_chief() -> bool:
    """Whether this process is the chief of a distributed search (Keras
    Tuner's rule: the oracle's address is set and the id contains `chief`)."""
    from keras_tuner.src.distribute import utils

    return utils.is_chief_oracle()


def is_worker() -> bool:
    """Whether this process is a worker of a distributed search."""
    from keras_tuner.src.distribute import utils

    return utils.has_chief_oracle() and not utils.is_chief_oracle()


def run_chief(tuner, verbose=None):
    """The chief's `search`: serve the oracle until every worker is told to stop.

    As Keras Tuner's chief, but it exits as soon as the search is over (Keras
    Tuner's checks every 20 seconds), and saves the tuner first, so that the
    project can be resumed the same way with workers or without.
    """
    if verbose is not None:
        tuner.oracle.verbose = verbose
    tuner.save()
    serve_oracle(tuner.oracle)


def tuner_file(tuner, default):
    """The tuner's state file: the chief keeps the standalone tuner's.

    Keras Tuner reloads a project only if `tuner0.json` exists, so a project
    is then resumed the same way with workers or without.
    """
    if is_chief():
        return os.path.join(str(tuner.project_dir), "tuner0.json")
    return default


def prepare_worker(tuner):
    """A worker waits for a chief that restarts instead of failing."""
    if is_worker():
        make_client_resilient(tuner.oracle)


class IdleBackoff:
    """Pauses between requests for a trial while the oracle answers IDLE.

    Keras Tuner asks again at once after IDLE: a worker waiting for the end
    of stage 1 would busy-spin. Each wait doubles, from `first` to `longest`
    seconds; `reset()` when a trial starts.
    """

    def __init__(self, first=0.05, longest=2.0):
        self.first = first
        self.longest = longest
        self._next = None

    def wait(self):
        """Sleep before asking again (not before the first request)."""
        if self._next is None:
            self._next = self.first
            return
        time.sleep(self._next)
        self._next = min(self._next * 2, self.longest)

    def reset(self):
        self._next = None


# --------------------------------------------------------------------------- #
# The chief's server.
# --------------------------------------------------------------------------- #
def serve_oracle(oracle, poll_seconds=0.1):
    """Serve `oracle` to the workers until the search is over.

    Listens on `KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT` (exactly that
    address: nothing is exposed that was not asked for) with Keras Tuner's
    servicer, one request at a time, and returns once some worker has been
    told STOPPED, no trial is running and every worker that asked for a trial
    has been told STOPPED.

    Raises:
        RuntimeError: if the address cannot be listened on.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = format_address(os.environ[ORACLE_IP_ENV], os.environ[ORACLE_PORT_ENV])
    # One thread, as Keras Tuner: the oracle's methods run one at a time.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as error:
        bound = 0
        reason = str(error)
    else:
        reason = "the port is in use or the address is not one of this machine's"
    if not bound:
        raise RuntimeError(
            f"The chief cannot listen on {address} ({reason}). Check "
            f"{ORACLE_IP_ENV} and {ORACLE_PORT_ENV}."
        )
    server.start()
    print(f"chief: serving the oracle on {address}", flush=True)
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll_seconds)
    finally:
        server.stop(grace=1).wait()
    print("chief: every worker has been told to stop", flush=True)


# --------------------------------------------------------------------------- #
# The workers.
# --------------------------------------------------------------------------- #
class _RetryingStub:
    """Wraps a gRPC stub: calls are retried while the chief is unavailable.

    Every oracle call is safe to repeat: `create_trial` hands a tuner the
    trial it already has, `update_trial` records the same value again, and
    `TwoStageOracle.end_trial` ignores a trial that has already ended.
    """

    def __init__(self, stub, retry_seconds, first_delay=0.5, max_delay=5.0):
        self._stub = stub
        self._retry_seconds = retry_seconds
        self._delays = (first_delay, max_delay)

    def __getattr__(self, name):
        method = getattr(self._stub, name)
        if not callable(method):
            return method

        @functools.wraps(method)
        def call(*args, **kwargs):
            import grpc

            deadline = time.monotonic() + self._retry_seconds
            delay = self._delays[0]
            while True:
                try:
                    return method(*args, **kwargs)
                except grpc.RpcError as error:
                    code = error.code() if hasattr(error, "code") else None
                    if (
                        code != grpc.StatusCode.UNAVAILABLE
                        or time.monotonic() + delay > deadline
                    ):
                        raise
                print(
                    f"worker: the chief is unavailable ({name}); retrying in "
                    f"{delay:g} s",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(delay)
                delay = min(delay * 2, self._delays[1])

        return call


def make_client_resilient(client, retry_seconds=3600.0):
    """Make a Keras Tuner `OracleClient` retry calls the chief cannot answer.

    Keras Tuner already waits for a chief that is not up yet; a call in
    flight when the chief dies fails with `UNAVAILABLE` and would end the
    worker. With this, the worker waits (up to `retry_seconds`) for the chief
    to come back, for instance after it was restarted on the same directory.
    """
    if not isinstance(client.stub, _RetryingStub):
        client.stub = _RetryingStub(client.stub, retry_seconds)
    return client


# --------------------------------------------------------------------------- #
# Addresses.
# --------------------------------------------------------------------------- #
def format_address(host, port):
    """`host:port`, with brackets around an IPv6 host."""
    host = str(host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6
    return f"{host}:{port}"


def parse_address(text, default_host=LOOPBACK):
    """`"HOST:PORT"`, `"PORT"` or `"[IPv6]:PORT"` -> `(host, port)`.

    Raises:
        ValueError: if the port is not a number between 1 and 65535.
    """
    text = str(text).strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    elif ":" in text:
        host, _, port = text.rpartition(":")
    else:
        host, port = default_host, text
    try:
        number = int(port)
    except ValueError:
        number = 0
    if not 0 < number < 65536 or not host:
        raise ValueError(
            f"Invalid address {text!r}: expected HOST:PORT or PORT, with a "
            "port between 1 and 65535 (for example 127.0.0.1:8000)."
        )
    return host, number


def free_port(host=LOOPBACK):
    """A TCP port that nothing listens on now, on `host`."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]"), 0))
        return probe.getsockname()[1]


def connect_host(bind_host):
    """The address a worker on this machine uses to reach a chief on `bind_host`."""
    return LOOPBACK if bind_host in _ANY_ADDRESSES else bind_host


def role_environment(tuner_id, host, port):
    """The environment variables that give a process its role."""
    return {
        TUNER_ID_ENV: str(tuner_id),
        ORACLE_IP_ENV: str(host),
        ORACLE_PORT_ENV: str(port),
    }


def check_worker_id(tuner_id):
    """Refuse ids that Keras Tuner would take for the chief's, or the tuner's."""
    if not tuner_id or "chief" in tuner_id or tuner_id == "tuner0":
        raise ValueError(
            f"Invalid worker id {tuner_id!r}: expected a non-empty id that does "
            "not contain 'chief' (Keras Tuner takes any such id for the chief) "
            "and is not 'tuner0' (the file of the standalone tuner), for "
            "example 'worker0'."
        )
    return tuner_id


# --------------------------------------------------------------------------- #
# The local launcher.
# --------------------------------------------------------------------------- #
class _Child:
    def __init__(self, name, command, env, output, lock):
        self.name = name
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
):
    """Run a chief and `workers` workers on this machine; wait for them.

    The chief runs `command` with `KERASTUNER_TUNER_ID=chief`, the workers
    `worker_command` (default: `command`) as `worker0`, `worker1`, ...; all
    with `KERASTUNER_ORACLE_IP` / `KERASTUNER_ORACLE_PORT` set. Each line a
    process prints is copied to `output` (default: stdout) after its name,
    e.g. `[worker1] `.

    If the chief fails, the workers are stopped. If a worker fails, the chief
    and the other workers are stopped too (the chief would otherwise wait for
    the failed worker's trial forever); the search is resumed by running the
    same command again. When the chief has ended normally, workers still
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

    Returns:
        0 if every process succeeded; otherwise the chief's exit status if it
        failed, else 1.
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
        children.append(_Child(name, argv, environment, output, lock))
        return children[-1]

    say(
        f"chief on {format_address(host, port)}, {workers} worker(s); "
        "run the same command again to resume"
    )
    children = []
    chief = start(CHIEF_ID, command, host)
    try:
        for index in range(workers):
            start(f"worker{index}", worker_command or command, connect_host(host))
        status = _supervise(chief, children[1:], say, grace_seconds, poll_seconds)
    except KeyboardInterrupt:
        say("interrupted: stopping every process")
        status = 130
    finally:
        for child in children:
            child.stop()
        for child in children:
            child.reader.join(timeout=5)
    return status


def _supervise(chief, workers, say, grace_seconds, poll_seconds):
    ended = set()

    def failed_worker():
        """Report the workers that ended; return one that failed, if any."""
        for worker in workers:
            code = worker.poll()
            if code is None or worker.name in ended:
                continue
            ended.add(worker.name)
            if code != 0:
                return worker
            say(f"{worker.name} finished")
        return None

    while True:
        failed = failed_worker()
        if failed is not None:
            say(
                f"{failed.name} failed ({describe_status(failed.poll())}): "
                "stopping the chief and the other workers"
            )
            return 1
        code = chief.poll()
        if code is not None and code != 0:
            say(f"chief failed ({describe_status(code)}): stopping the workers")
            return code if code > 0 else 1
        if code == 0:
            say("chief finished")
            break
        time.sleep(poll_seconds)
    # The chief only ends once no trial runs: the workers are done or idle.
    deadline = time.monotonic() + grace_seconds
    status = 0
    while True:
        all_ended = all(w.poll() is not None for w in workers)
        failed = failed_worker()
        while failed is not None:
            say(f"{failed.name} failed ({describe_status(failed.poll())})")
            status = 1
            failed = failed_worker()
        if all_ended or time.monotonic() >= deadline:
            break
        time.sleep(poll_seconds)
    left = [w.name for w in workers if w.poll() is None]
    if left:
        say(f"stopping {', '.join(left)}: the search is over")
    return status
