"""The checks and errors of `TwoStageOracle`'s options and of resuming.

Plain values in, a value or an error out: no oracle state.
"""

from __future__ import annotations

from kt_twostage.schedule import EPOCHS_KEY, PATIENCE_KEY, ScheduleConfig, compass


def resume_differences(saved, current, saved_settings, settings) -> dict:
    """`{name: (project's, now)}` of what differs between a project's
    `ScheduleConfig` and settings and the current ones.

    More stage-2 trials only extend the schedule (and its epochs), so they
    are not a difference. A setting the project did not record (older
    projects) is not compared.
    """
    differences = {
        field: (getattr(saved, field), getattr(current, field))
        for field in ScheduleConfig.__dataclass_fields__
        if getattr(saved, field) != getattr(current, field)
    }
    if current.stage2_trials > saved.stage2_trials:
        differences.pop("stage2_trials")
        if None not in (saved.stage2_epoch_budget, current.stage2_epoch_budget):
            differences.pop("stage2_epoch_budget")
    for key, value in settings.items():
        old = saved_settings.get(key)
        if old is not None and old != value:
            differences[key.removesuffix("_name")] = (old, value)
    return differences


def resume_error(project_dir, differences) -> ValueError:
    """The error that lists `resume_differences`."""
    return ValueError(
        f"Cannot resume the project in {project_dir} with other "
        "schedule settings than it was started with: "
        + "; ".join(
            f"{key}: project has {old!r}, now {new!r}"
            for key, (old, new) in differences.items()
        )
        + ". Resume with the original settings, or start over with "
        "`overwrite=True` (this deletes the project) or a new "
        "`project_name`."
    )


def check_stage2_rule(stage2_rule, parallelism) -> str:
    """`"reference"`, `"compass"` or `"scout"`; the last two are sequential."""
    if stage2_rule not in compass.STAGE2_RULES:
        raise ValueError(
            "Received an invalid value for argument `stage2_rule`, expected one "
            f"of {list(compass.STAGE2_RULES)}, got {stage2_rule!r}."
        )
    if stage2_rule in compass.LINE_SEARCH_RULES and parallelism > 1:
        raise ValueError(
            f"Received `stage2_rule={stage2_rule!r}` with `stage2_parallelism="
            f"{parallelism}`: the {stage2_rule} rule's next learning rate depends on "
            "every score before it, so stage 2 runs one trial at a time. Use "
            "`stage2_parallelism=1`."
        )
    return stage2_rule


def check_reinvest(reinvest, patience, parallelism) -> bool:
    """`reinvest_stopped_epochs` needs early stopping and a sequential stage 2."""
    if not isinstance(reinvest, bool):
        raise ValueError(
            "Received an invalid value for argument `reinvest_stopped_epochs`, "
            f"expected True or False, got {reinvest!r}."
        )
    if reinvest and patience is None:
        raise ValueError(
            "Received `reinvest_stopped_epochs=True` without `stage2_patience`: "
            "only early stopping saves epochs to reinvest. Pass a "
            "`stage2_patience`, e.g. 2."
        )
    if reinvest and parallelism > 1:
        raise ValueError(
            "Received `reinvest_stopped_epochs=True` with "
            f"`stage2_parallelism={parallelism}`: the epochs a stage-2 trial "
            "saves are only known when it ends, so stage 2 runs one trial at a "
            "time. Use `stage2_parallelism=1`."
        )
    return reinvest


def epochs_ignored(trial_id, step, scheduled):
    """The warning when a trial's best epoch lies beyond its `tuner/epochs`
    (it trained for longer than its stage asks: a plain `Tuner` trains every
    trial for the `epochs` given to `search`), else None."""
    if scheduled is None or not step or step < scheduled:
        return None
    return (
        f"Trial {trial_id} reported its best epoch at step {step}, but the "
        f"two-stage schedule trains it for {scheduled} epoch(s) "
        "(`tuner/epochs` in its values): the Tuner ignores the schedule's "
        "epochs. Use `kt_twostage.TwoStageTuner`, or read "
        '`hp.values["tuner/epochs"]` in your `HyperModel.fit` or '
        "`Tuner.run_trial` and pass it to `model.fit(epochs=...)`."
    )


def epochs_trained(best_step, values):
    """Epochs a completed trial trained, when early stopping may have cut it.

    Keras' `EarlyStopping(patience=P)` stops `P` epochs after the best one,
    whose index Keras Tuner reports as the trial's best step; None when the
    trial had no patience (it trained all its epochs).
    """
    patience = values.get(PATIENCE_KEY)
    if patience is None or best_step is None:
        return None
    return min(int(values[EPOCHS_KEY]), int(best_step) + 1 + int(patience))
