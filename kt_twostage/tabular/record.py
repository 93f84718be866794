"""`record_table`: train a grid of IMDB runs and write their learning curves.

Each run (units, learning rate, seed) trains `ImdbLstmHyperModel`'s model
for the profile's epochs, one epoch at a time; after every epoch the
validation and test data are evaluated and a row is kept. When the run has
finished, its rows are added to the table atomically, so a kill loses at
most the run in progress, and running the same command again skips every
finished run.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shlex
import sys
import time

from kt_twostage import _environment
from kt_twostage.tabular import table
from kt_twostage.tabular.profiles import TableProfile

SIDECAR_FORMAT = 1
# Evaluation needs no gradients: a large batch is faster, and does not
# change the metrics.
_EVALUATION_BATCH = 1024


def split_data(profile: TableProfile, data):
    """`(train, validation, test)` `(x, y)` pairs of `profile` from `ImdbData`."""
    x, y = _first(data.x_train, data.y_train, profile.train_reviews, "train_reviews")
    test = _first(data.x_test, data.y_test, profile.test_reviews, "test_reviews")
    split = int(len(x) * (1 - profile.validation_split))
    if split < 1 or split >= len(x):
        raise ValueError(
            f"A validation split of {profile.validation_split} of {len(x)} "
            "reviews leaves no training or no validation reviews."
        )
    return (x[:split], y[:split]), (x[split:], y[split:]), test


def _first(x, y, count, name):
    """The first `count` examples (all if None); `name` is the setting."""
    if count is None:
        return x, y
    if count > len(x):
        raise ValueError(
            f"The profile keeps {count} reviews (`{name}`), but the data has "
            f"{len(x)}. Lower `{name}`."
        )
    return x[:count], y[:count]


def arrays_sha256(*arrays) -> str:
    """sha256 of the bytes of `arrays`: pins the exact data a table used."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def check_profile_matches(path, profile: TableProfile) -> dict | None:
    """The table's sidecar, after checking it was recorded with `profile`.

    Raises:
        table.TableError: the table exists with other settings, or without
            a sidecar; nothing is changed.
    """
    sidecar = table.read_sidecar(path)
    if sidecar is None:
        if os.path.exists(path):
            raise table.TableError(
                f"The table {path} exists but has no sidecar "
                f"({table.sidecar_path(path)}), so it cannot be resumed: its "
                "settings are unknown. Record into another file."
            )
        return None
    saved = TableProfile.from_dict(sidecar.get("profile", {})).to_dict()
    current = profile.to_dict()
    differences = [
        f"{key}: table has {saved[key]!r}, now {current[key]!r}"
        for key in current
        if key not in ("description", "seeds") and saved.get(key) != current[key]
    ]
    # More seeds extend a table: its recorded seeds must come first.
    if current["seeds"][: len(saved["seeds"])] != saved["seeds"]:
        differences.append(
            f"seeds: table has {saved['seeds']!r}, now {current['seeds']!r} "
            "(more seeds may only be added after the recorded ones)"
        )
    if differences:
        raise table.TableError(
            f"The table {path} was recorded with other settings ("
            + "; ".join(differences)
            + "). Resume it with its own settings, or record into another file."
        )
    return sidecar


def format_duration(seconds: float) -> str:
    """`1h02m`, `3m05s` or `12s`."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def estimate_remaining(done_seconds: dict, remaining_runs) -> float | None:
    """Seconds left: each remaining run costs the mean of the finished runs
    with the same units value (runs of other sizes take very different
    times), or the mean of all finished runs if none has that value yet.

    Args:
        done_seconds: `{units: [seconds of each run finished in this process]}`.
        remaining_runs: The `(units, learning_rate, seed)` still to train.
    """
    everything = [s for values in done_seconds.values() for s in values]
    if not everything:
        return None
    overall = sum(everything) / len(everything)
    total = 0.0
    for units, _, _ in remaining_runs:
        mine = done_seconds.get(units)
        total += sum(mine) / len(mine) if mine else overall
    return total


def record_table(
    profile: TableProfile,
    path,
    *,
    profile_name=None,
    data=None,
    command=None,
    deterministic=True,
    log=print,
) -> dict:
    """Train every run of `profile` that `path` does not hold yet.

    Args:
        profile: The `TableProfile`.
        path: The CSV table, created or resumed. Its sidecar (same stem,
            `.json`) is written beside it.
        profile_name: The profile's name, recorded in the sidecar.
        data: Optional `ImdbData` already loaded with the profile's
            tokenization; default: `load_imdb(profile.data, ...)`.
        command: The command line, recorded in the sidecar.
        deterministic: Whether to ask the backend for deterministic kernels
            (`reproducibility.enable_determinism`).
        log: Function called with each progress line.

    Returns:
        The sidecar dict.
    """
    path = os.fspath(path)
    sidecar = check_profile_matches(path, profile)
    done = (
        table.read_rows(path).finished(profile.epochs)
        if os.path.exists(path)
        else set()
    )
    todo = [run for run in profile.runs if table.run_key(*run) not in done]
    log(
        f"table {path}: {len(profile.runs) - len(todo)} of {len(profile.runs)} "
        f"runs done, {len(todo)} to train ({profile.epochs} epochs each)"
    )
    train, validation, test = split_data(profile, data or _load(profile, log))
    session = _session(command, deterministic)
    sidecar = sidecar or _new_sidecar(profile, profile_name, train, validation, test)
    _check_same_data(path, sidecar, train, validation, test)
    # Extending the seeds: the sidecar describes the grid now recorded.
    sidecar["profile"]["seeds"] = list(profile.seeds)
    sidecar["grid"]["seeds"] = list(profile.seeds)
    sidecar["grid"]["runs"] = len(profile.runs)
    sidecar["sessions"].append(session)
    sidecar["runs_done"] = len(profile.runs) - len(todo)
    table.write_sidecar(path, sidecar)
    seconds_by_units = {}
    for number, run in enumerate(todo, start=1):
        start = time.perf_counter()
        rows = train_run(profile, run, train, validation, test)
        table.append_rows(path, rows)
        elapsed = time.perf_counter() - start
        seconds_by_units.setdefault(run[0], []).append(elapsed)
        session["runs_recorded"] += 1
        sidecar["runs_done"] += 1
        table.write_sidecar(path, sidecar)
        left = estimate_remaining(seconds_by_units, todo[number:])
        log(
            _progress_line(
                sidecar["runs_done"], len(profile.runs), run, rows, elapsed, left
            )
        )
    return sidecar


def _load(profile: TableProfile, log):
    from kt_twostage.imdb.data import load_imdb

    start = time.perf_counter()
    data = load_imdb(
        profile.data, num_words=profile.num_words, max_length=profile.max_length
    )
    log(f"data loaded in {time.perf_counter() - start:.1f} s: {data}")
    return data


def _session(command, deterministic) -> dict:
    """What this `record` process ran with: command, backend, versions, machine."""
    import keras

    from kt_twostage import reproducibility

    determinism = reproducibility.enable_determinism() if deterministic else "off"
    return {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "command": command or " ".join(shlex.quote(a) for a in sys.argv),
        "backend": keras.backend.backend(),
        "determinism": determinism,
        "versions": _environment.library_versions(),
        "machine": _environment.describe_machine(),
        "runs_recorded": 0,
    }


def _new_sidecar(profile, profile_name, train, validation, test) -> dict:
    from kt_twostage.imdb.data import source_sha256

    return {
        "format": SIDECAR_FORMAT,
        "columns": list(table.COLUMNS),
        "profile_name": profile_name,
        "profile": profile.to_dict(),
        "data": {
            "source": profile.data or "$KT_TWOSTAGE_IMDB or the official archive",
            "source_sha256": source_sha256(profile.data),
            "arrays_sha256": arrays_sha256(*train, *validation, *test),
            "train_examples": int(len(train[0])),
            "validation_examples": int(len(validation[0])),
            "test_examples": int(len(test[0])),
        },
        "grid": {
            "units": list(profile.units),
            "learning_rates": [float(r) for r in profile.learning_rates],
            "seeds": list(profile.seeds),
            "epochs": profile.epochs,
            "runs": len(profile.runs),
        },
        "sessions": [],
    }


def _progress_line(done, total, run, rows, elapsed, left) -> str:
    best = max(rows, key=lambda row: row["val_accuracy"])
    return (
        f"[{done}/{total}] units={run[0]} lr={run[1]:.3g} seed={run[2]}: best "
        f"val_accuracy {best['val_accuracy']:.4f} (epoch {best['epoch']}), test "
        f"{best['test_accuracy']:.4f}; {format_duration(elapsed)}; "
        f"ETA {format_duration(left) if left is not None else '?'}"
    )


def _check_same_data(path, sidecar, train, validation, test):
    saved = sidecar.get("data", {}).get("arrays_sha256")
    current = arrays_sha256(*train, *validation, *test)
    if saved is not None and saved != current:
        raise table.TableError(
            f"The table {path} was recorded on other data (the tokenized "
            f"arrays' sha256 is {saved[:12]}..., now {current[:12]}...): pass "
            "the same reviews (--data) to resume it, or record into another file."
        )


def train_run(profile: TableProfile, run, train, validation, test) -> list[dict]:
    """Train one run and return its rows, one per epoch."""
    import keras

    from kt_twostage import reproducibility
    from kt_twostage.tabular.models import build_model

    units, learning_rate, seed = run
    keras.backend.clear_session()
    reproducibility.set_seed(seed)
    model = build_model(
        profile.model,
        num_words=profile.num_words,
        units=units,
        learning_rate=learning_rate,
        learning_rates=profile.learning_rates,
    )
    rows = []
    for epoch in range(1, profile.epochs + 1):
        start = time.perf_counter()
        model.fit(
            *train,
            batch_size=profile.batch_size,
            epochs=epoch,
            initial_epoch=epoch - 1,
            shuffle=True,
            verbose=0,
        )
        seconds = time.perf_counter() - start
        scores = {}
        for prefix, (x, y) in (("val_", validation), ("test_", test)):
            result = model.evaluate(
                x, y, batch_size=_EVALUATION_BATCH, verbose=0, return_dict=True
            )
            scores[prefix + "accuracy"] = float(result["accuracy"])
            scores[prefix + "loss"] = float(result["loss"])
        rows.append(
            {
                "units": units,
                "learning_rate": learning_rate,
                "seed": seed,
                "epoch": epoch,
                **scores,
                "seconds": seconds,
            }
        )
    return rows
