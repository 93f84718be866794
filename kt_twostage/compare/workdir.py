"""The work folder of a comparison: its settings and its finished runs.

`settings.json` holds `ComparisonPlan.to_dict()`; `runs/NAME-seedSEED.json`
one finished run each; `projects/` the Keras Tuner projects. A comparison
started again reuses the finished runs, if the settings are unchanged.
"""

from __future__ import annotations

import json
import os
import shutil

from kt_twostage import _io
from kt_twostage.results import trial_table as table

SETTINGS_FILE = "settings.json"
# Settings that only add runs, keyed by their own names: a work folder made
# without them (or with another value) is still reused.
_ADDITIVE_SETTINGS = ("stage2_patience",)


def prepare_work_dir(work_dir, settings, overwrite=False):
    """Check `settings` against the work folder's and write them there.

    Args:
        work_dir: String, the work folder (created if missing).
        settings: Dict, `ComparisonPlan.to_dict()`.
        overwrite: Boolean, delete the runs, projects and settings found
            there first. Defaults to `False`.

    Raises:
        ValueError: The folder holds runs made with other settings.
    """
    path = os.path.join(work_dir, SETTINGS_FILE)
    if overwrite:
        # Only what this module writes: the folder may be the user's.
        for name in ("runs", "projects"):
            shutil.rmtree(os.path.join(work_dir, name), ignore_errors=True)
        if os.path.isfile(path):
            os.remove(path)
    if os.path.isfile(path):
        changed = changed_settings(table.read_json(path), settings)
        if changed:
            raise ValueError(
                f"The work folder {work_dir} holds runs made with other "
                f"settings ({', '.join(changed)} differ). Pass `overwrite=True` "
                "to delete them, or another `work_dir`."
            )
    _io.atomic_write_json(path, settings)


def changed_settings(saved, current) -> list[str]:
    """The keys whose values differ, additive settings left out."""
    # Round-trip through JSON so tuples and lists compare equal.
    current = json.loads(json.dumps(current))
    return sorted(
        key
        for key in set(saved) | set(current)
        if key not in _ADDITIVE_SETTINGS and saved.get(key) != current.get(key)
    )


def run_path(work_dir, name, seed) -> str:
    """Where the finished run of `name` on `seed` is kept."""
    return os.path.join(work_dir, "runs", f"{name}-seed{seed}.json")
