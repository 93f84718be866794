"""The chief's server: Keras Tuner's servicer with a lease, a token and TLS."""

from __future__ import annotations

import os
import time

from kt_twostage.distributed import lease, security
from kt_twostage.distributed.addresses import format_address
from kt_twostage.distributed.roles import ORACLE_IP_ENV, ORACLE_PORT_ENV

# Call metadata (gRPC keys are lower case).
TUNER_ID_KEY = "kt-twostage-tuner-id"
HEARTBEAT_KEY = "kt-twostage-heartbeat"
BEAT_SECONDS_KEY = "kt-twostage-beat-seconds"


def _make_servicer(oracle):
    """Keras Tuner's `OracleServicer`, with every call a heartbeat and the
    reports of a worker that lost its trial refused (`FAILED_PRECONDITION`)."""
    import grpc
    from keras_tuner.src.distribute import oracle_chief

    # An oracle without leases (not a `ResilientOracle`) is served as by
    # Keras Tuner.
    leased = hasattr(oracle, "refuse_report")

    class LeasedServicer(oracle_chief.OracleServicer):
        def _hear(self, context):
            sender = dict(context.invocation_metadata()).get(TUNER_ID_KEY)
            if sender and leased:
                self.oracle.heard_from(sender)
            return sender

        def _check(self, context, trial_id):
            sender = self._hear(context)
            refusal = leased and self.oracle.refuse_report(sender, trial_id)
            if refusal:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, refusal)

        def GetSpace(self, request, context):
            self._hear(context)
            return super().GetSpace(request, context)

        def UpdateSpace(self, request, context):
            self._hear(context)
            return super().UpdateSpace(request, context)

        def CreateTrial(self, request, context):
            self._hear(context)
            return super().CreateTrial(request, context)

        def UpdateTrial(self, request, context):
            self._check(context, request.trial_id)
            return super().UpdateTrial(request, context)

        def EndTrial(self, request, context):
            self._check(context, request.trial.trial_id)
            return super().EndTrial(request, context)

        def GetTrial(self, request, context):
            if leased and HEARTBEAT_KEY in dict(context.invocation_metadata()):
                self._check(context, request.trial_id)
                beat = lease.beat_seconds(self.oracle.worker_timeout_seconds())
                context.set_trailing_metadata(((BEAT_SECONDS_KEY, f"{beat:g}"),))
            else:
                self._hear(context)
            return super().GetTrial(request, context)

        def GetBestTrials(self, request, context):
            self._hear(context)
            return super().GetBestTrials(request, context)

    return LeasedServicer(oracle)


def serve_oracle(oracle, poll_seconds=0.1):
    """Serve `oracle` to the workers until the search is over.

    Listens on `KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT` (exactly that
    address: nothing is exposed that was not asked for) with Keras Tuner's
    servicer, one request at a time, and returns once some worker has been
    told STOPPED, no trial is running and every worker that asked for a trial
    has been told STOPPED or has gone silent for longer than the worker
    timeout. With `KT_TWOSTAGE_TOKEN` every call must carry the token; with
    `KT_TWOSTAGE_TLS_CERT`/`_KEY` the channel is TLS
    (`kt_twostage.distributed.security`). A non-loopback address without a
    token is refused unless `KT_TWOSTAGE_INSECURE=1`.

    Raises:
        RuntimeError: if the address cannot be listened on.
        ValueError: for a non-loopback address without a token, or bad TLS
            files.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    host = os.environ[ORACLE_IP_ENV]
    address = format_address(host, os.environ[ORACLE_PORT_ENV])
    token = security.token_from_environment()
    credentials = security.server_credentials()
    insecure = os.environ.get(security.INSECURE_ENV, "") not in ("", "0")
    warning = security.exposure_warning(host, token, credentials, insecure)
    if warning:
        print(f"chief: {warning}", flush=True)
    interceptors = [security.token_interceptor(token)] if token else []
    # One thread, as Keras Tuner: the oracle's methods run one at a time.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=1), interceptors=interceptors
    )
    servicer = _make_servicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
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
    extras = [
        "a token" if token else None,
        "TLS" if credentials is not None else None,
    ]
    with_what = " with " + " and ".join(e for e in extras if e) if any(extras) else ""
    print(f"chief: serving the oracle on {address}{with_what}", flush=True)
    try:
        while True:
            if hasattr(oracle, "expire_silent_workers"):
                oracle.expire_silent_workers()
            if servicer.stop_triggered and oracle_chief.exit_chief(oracle):
                break
            time.sleep(poll_seconds)
    finally:
        server.stop(grace=1).wait()
    print("chief: every worker has been told to stop", flush=True)
