"""`TwoStageTuner` against Keras Tuner's built-in tuners, side by side.

`compare_tuners` runs every tuner of `BASELINES` on the same problem and
writes the comparison; `run_imdb_compare` does it on the IMDB reviews. The
modules: `plan` (`ComparisonPlan`, pure), `baselines` (the registry, pure),
`budget` (epoch arithmetic, pure), `tuners` (the Keras Tuner side),
`records` (what a run records), `workdir` (finished runs, reused),
`determinism` (deterministic kernels while a comparison trains),
`runner` (`run_one` and the loop), `outputs` (tables, summary, plots) and
`imdb`.

The names are imported on first use (PEP 562), so that the pure parts, and
the command line that lists the tuner names, load without TensorFlow.
"""

import importlib

_EXPORTS = {
    "BASELINES": "baselines",
    "DEFAULT_TUNERS": "baselines",
    "LABELS": "baselines",
    "PATIENCE_PREFIX": "baselines",
    "TUNERS": "baselines",
    "Baseline": "baselines",
    "label": "baselines",
    "patience_variant": "baselines",
    "ORACLE_SEED_SPACING": "budget",
    "hyperband_epochs": "budget",
    "log_grid": "budget",
    "plan_hyperband": "budget",
    "two_stage_budget": "budget",
    "run_imdb_compare": "imdb",
    "PLOT_FILES": "outputs",
    "RUN_COLUMNS": "outputs",
    "TRIAL_COLUMNS": "outputs",
    "summarize": "outputs",
    "summary_markdown": "outputs",
    "write_outputs": "outputs",
    "write_plots": "outputs",
    "ComparisonPlan": "plan",
    "ComparisonData": "runner",
    "compare_tuners": "runner",
    "make_plan": "runner",
    "run_one": "runner",
    "run_plan": "runner",
    "BudgetHyperbandOracle": "tuners",
    "GridOracle": "tuners",
    "table_value": "tuners",
    "SETTINGS_FILE": "workdir",
    # The IMDB settings, kept here for the code that imports them from here.
    "ImdbCompareSettings": "kt_twostage.imdb.settings",
    "PROFILES": "kt_twostage.imdb.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if "." not in module:
        module = f"{__name__}.{module}"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
