"""A worker takes its settings from the chief's project.

`kt-twostage search` as a chief writes its settings into the project
(`search_settings.json`) before it serves; `kt-twostage worker --chief HOST:PORT
--directory D --project-name P` reads them from the shared project, waiting
for the chief to write them. Settings flags given to the worker are checked
against the chief's: any difference is refused with the list of them, as a
resume is. `--data` may differ (the same reviews may sit elsewhere on
another machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

from kt_twostage.cli import _overrides, search
from kt_twostage.cli._common import UsageError

SETTINGS_FILE = "search_settings.json"
# Not compared: where this machine keeps things, and how much it prints.
_LOCAL_FIELDS = ("data", "directory", "project_name", "overwrite", "verbose")


def settings_path(directory, project_name) -> str:
    return os.path.join(directory, project_name, SETTINGS_FILE)


def publish_settings(settings):
    """On the chief of a distributed search, write `settings` into the project."""
    from kt_twostage import _io, distributed

    if not distributed.is_chief():
        return
    path = settings_path(settings.directory, settings.project_name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    values = dataclasses.asdict(settings)
    _io.atomic_write_json(path, {k: v for k, v in values.items() if k != "overwrite"})


def explicit_settings(args) -> dict:
    """The settings the worker's flags give: all of a `--preset`'s, with the
    overrides, or only the overrides without one."""
    fields = (*search.SEARCH_FIELDS, "data", "directory", "project_name")
    given = _overrides.given_overrides(args, fields)
    for flag in ("mixed_precision", "reinvest_stopped_epochs"):
        if getattr(args, flag):
            given[flag] = True
    search.add_recommended_variant(args, given)
    if args.preset is None:
        return given
    probe = argparse.Namespace(**vars(args))
    return dataclasses.asdict(search.settings_from_args(probe))


def check_explicit_flags(args):
    """The worker's flags must make valid settings (before anything loads)."""
    probe = argparse.Namespace(**{**vars(args), "preset": args.preset or "quick"})
    return search.settings_from_args(probe)


def read_chief_settings(path, wait_seconds=600.0, poll_seconds=1.0) -> dict:
    """The chief's settings in `path`, waiting for the chief to write them."""
    deadline = time.monotonic() + wait_seconds
    announced = False
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise UsageError(
                f"no settings from the chief in {path} after {wait_seconds:g} s: "
                "start the chief (`kt-twostage search --serve ...`) with the same "
                "--directory and --project-name, on a folder this machine shares"
            )
        if not announced:
            print(f"waiting for the chief's settings in {path}", flush=True)
            announced = True
        time.sleep(poll_seconds)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def worker_settings(args, wait_seconds=600.0):
    """The `ImdbSearchSettings` of a worker: the chief's, checked against the
    worker's flags; `--data`, `--directory` and `--project-name` are the
    worker's."""
    from kt_twostage.imdb.settings import PRESETS, ImdbSearchSettings

    defaults = PRESETS[args.preset or "quick"]
    directory = args.directory or defaults.directory
    project_name = args.project_name or defaults.project_name
    path = settings_path(directory, project_name)
    chief = read_chief_settings(path, wait_seconds)
    mine = explicit_settings(args)
    differences = [
        f"{field}: the chief has {chief[field]!r}, this worker {value!r}"
        for field, value in mine.items()
        if field not in _LOCAL_FIELDS and field in chief and chief[field] != value
    ]
    if differences:
        raise UsageError(
            f"this worker's flags disagree with the chief's settings ({path}): "
            + "; ".join(differences)
            + ". Leave the settings flags out: a worker takes the chief's."
        )
    known = {f.name for f in dataclasses.fields(ImdbSearchSettings)}
    values = {k: v for k, v in chief.items() if k in known}
    values.update(directory=directory, project_name=project_name, overwrite=False)
    if args.data is not None:
        values["data"] = args.data
    if args.verbose is not None:
        values["verbose"] = args.verbose
    return ImdbSearchSettings(**values)
