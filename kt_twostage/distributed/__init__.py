"""Distributed tuning: the chief's server, the workers' client, a launcher.

Keras Tuner's distributed mode runs one *chief* (the process that holds the
oracle and serves it over gRPC) and any number of *workers* (processes that
ask the chief for trials and train them). Every process runs the same search
script; three environment variables say which role it plays:

- `KERASTUNER_TUNER_ID`: `chief` for the chief, a unique id per worker
  (`worker0`, `worker1`, ...). A worker that restarts with the same id gets
  back the trial it was running.
- `KERASTUNER_ORACLE_IP`: the chief's address (the chief listens on it).
- `KERASTUNER_ORACLE_PORT`: the chief's port.

The modules, by role:

- `roles`: which role a process plays, and what `TwoStageTuner` does in it
  (`run_chief`, `tuner_file`, `prepare_worker`, `IdleBackoff`);
- `chief`: `serve_oracle`, the chief's server: Keras Tuner's servicer, a
  lease on every running trial, the token and TLS; it stops within a fraction
  of a second once the search is over (Keras Tuner's checks every 20 s);
- `client`: `WorkerClient`, the worker's side: token, TLS, heartbeats, and
  calls retried while the chief restarts;
- `lease`: the worker timeout (a silent worker's trial goes back to the
  schedule);
- `security`: the shared token (`KT_TWOSTAGE_TOKEN`) and TLS;
- `launcher`: `launch_local`, a chief and N workers on this machine;
- `addresses`: parsing and formatting `HOST:PORT`.

See docs/distributed.md. gRPC is imported on first use only.
"""

import importlib

_EXPORTS = {
    "LOOPBACK": "addresses",
    "connect_host": "addresses",
    "format_address": "addresses",
    "free_port": "addresses",
    "is_loopback": "addresses",
    "parse_address": "addresses",
    "CHIEF_ID": "roles",
    "ORACLE_IP_ENV": "roles",
    "ORACLE_PORT_ENV": "roles",
    "TUNER_ID_ENV": "roles",
    "IdleBackoff": "roles",
    "check_worker_id": "roles",
    "is_chief": "roles",
    "is_worker": "roles",
    "prepare_worker": "roles",
    "role_environment": "roles",
    "run_chief": "roles",
    "tuner_file": "roles",
    "serve_oracle": "chief",
    "TokenRefused": "client",
    "WorkerClient": "client",
    "_RetryingStub": "client",
    "LeaseGuard": "client",
    "LeaseLost": "client",
    "lease_callbacks": "roles",
    "make_client_resilient": "client",
    "describe_status": "launcher",
    "launch_local": "launcher",
    "TOKEN_ENV": "security",
    "TLS_CA_ENV": "security",
    "TLS_CERT_ENV": "security",
    "TLS_KEY_ENV": "security",
    "INSECURE_ENV": "security",
    "read_token_file": "security",
}

__all__ = sorted(name for name in _EXPORTS if not name.startswith("_"))


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(
            f"module 'kt_twostage.distributed' has no attribute {name!r}"
        )
    module = importlib.import_module(f"kt_twostage.distributed.{_EXPORTS[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
