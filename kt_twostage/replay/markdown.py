"""`summary.md` of a replay: one table per budget, and the definitions."""

from __future__ import annotations

from kt_twostage.replay.summary import BASELINES, diff_key
from kt_twostage.replay.tuners import REFERENCE

DEFINITIONS = f"""\
- **Outcome**: the `test_accuracy` at the best-validation epoch of the trial
  the tuner chose (its oracle's `get_best_trials(1)`); a trial's score is its
  best epoch's `val_accuracy`.
- **95% CI**: Student-t interval of the mean over the searches.
- **vs {REFERENCE}**, **vs random**, **vs bayesian**, **vs hyperband**: mean
  of the paired differences of outcomes against the reference rule and
  against the built-in tuners (same seed index; the tuners' seed streams are
  independent, so the pairing removes no shared noise), with its 95% CI. A CI
  that contains 0 is a tie. A column is there when its tuner was replayed.
- **Regret**: the optimum minus the outcome. The optimum is the recorded
  (units, learning rate) with the highest mean over the table's seeds of
  `test_accuracy` at its best-validation epoch within `stage2_epochs`. A
  search can beat it (negative regret) with a lucky seed or an interpolated
  learning rate.
- **Budget**: a multiple of B, the epochs of the two-stage schedule; a trial
  starts only if its epochs still fit. **Epochs used** is the mean over the
  searches; **ended by budget** is the share of searches that the budget
  ended (the others ended when the oracle said it was done: the two-stage
  rule when its schedule ends, RandomSearch and BayesianOptimization after
  `budget // stage2_epochs` trials).
- **With the table's noise**: 95% percentile intervals of a hierarchical
  bootstrap that, in every replicate, resamples each configuration's
  recorded runs with replacement and then the searches, and re-reads each
  search's outcome (its chosen configuration, epoch and drawn run index
  held fixed) from the resampled table. They cover which searches ran and
  the training noise of the chosen configurations as the recorded seeds
  show it; not that another recording would make the tuners choose
  differently. The replicates are centred on the observed values (their
  spread is used, not their shift). **Rank**: 1 is the best mean among the
  tuners replayed.
  **Normalised regret**: (optimum - outcome) / (optimum - mean recorded
  configuration). **Per recorded seed**: the mean outcome when every
  search's choice is scored on that recorded seed alone.
- **Lookup**: each trial draws one of the table's seeds; learning rates
  between recorded ones get curves interpolated linearly in log(learning
  rate); Hyperband's continued trials continue their parent's curve.
"""


def _interval(mean, low, high, signed=False):
    if mean is None:
        return "n/a"
    number = f"{mean:+.4f}" if signed else f"{mean:.4f}"
    if low is None or high is None:
        return number
    if signed:
        return f"{number} [{low:+.4f}, {high:+.4f}]"
    return f"{number} [{low:.4f}, {high:.4f}]"


def _difference(entry, baseline) -> str:
    difference = entry.get(diff_key(baseline))
    if not difference:
        return "-"
    return _interval(
        difference["mean"], difference["ci95_low"], difference["ci95_high"], True
    )


def _tuner_row(tuner, entry, baselines) -> str:
    cells = (
        tuner,
        _interval(entry["mean_test"], entry["ci95_low"], entry["ci95_high"]),
        *(_difference(entry, baseline) for baseline in baselines),
        _interval(
            entry["regret_mean"], entry["regret_ci95_low"], entry["regret_ci95_high"]
        ),
        f"{entry['mean_epochs']:.1f} of {entry['budget_epochs']}",
        f"{entry['mean_trials']:.1f}",
        f"{100 * entry['ended_by_budget']:.0f}%",
    )
    return "| " + " | ".join(cells) + " |"


def _header(details) -> list[str]:
    table, settings = details["table"], details["settings"]
    optimum = details["optimum"]
    budgets = ", ".join(
        f"{name} = {epochs}" for name, epochs in details["budgets"].items()
    )
    return [
        f"# Replay of `{table['path']}`",
        "",
        f"- **Table**: {len(table['units'])} units values {table['units']} x "
        f"{len(table['learning_rates'])} learning rates "
        f"({min(table['learning_rates']):g} to {max(table['learning_rates']):g}) "
        f"x seeds {table['seeds']} x {table['epochs']} epochs; sha256 "
        f"`{table['sha256']}`.",
        f"- **Two-stage schedule**: {settings['stage1_epochs']} epoch(s) per units "
        f"value at {settings['stage1_learning_rate']:g}, then "
        f"{settings['stage2_trials']} trials of {settings['stage2_epochs']} epochs "
        f"from {settings['max_learning_rate']:g}: B = "
        f"{settings['reference_budget_epochs']} epochs.",
        f"- **Budgets** (epochs): {budgets}.",
        f"- **Searches**: {details['seeds_per_tuner']} per tuner and budget, replay "
        f"seed {details['replay_seed']}.",
        f"- **Optimum**: units={optimum['units']}, learning rate "
        f"{optimum['learning_rate']:g}, mean test accuracy "
        f"{optimum['test_accuracy']:.4f}.",
        "",
    ]


def _noise_rows(entries, versus) -> list[str]:
    """The table-noise table of one budget."""
    seeds = list(next(iter(entries.values()))["table_noise"]["by_recorded_seed"])
    lines = [
        "| tuner | mean [table-noise CI] | rank [CI] | normalised regret [CI] |"
        + "".join(f" vs {name} [CI] |" for name in versus)
        + "".join(f" seed {seed} |" for seed in seeds),
        "|" + "---|" * (4 + len(versus) + len(seeds)),
    ]
    for tuner, entry in entries.items():
        noise = entry["table_noise"]
        cells = [
            tuner,
            _interval(*(noise["mean_test"][k] for k in _KEYS)),
            _interval(*(noise["rank"][k] for k in _KEYS)).replace(".0000", ""),
            _interval(*(noise["normalised_regret"][k] for k in _KEYS)),
        ]
        for name in versus:
            diff = noise.get(f"diff_vs_{name}")
            cells.append(_interval(*(diff[k] for k in _KEYS), True) if diff else "-")
        cells += [f"{noise['by_recorded_seed'][seed]:.4f}" for seed in seeds]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


_KEYS = ("mean", "ci95_low", "ci95_high")
# The table-noise differences shown in summary.md (summary.json has all).
NOISE_VERSUS = (REFERENCE, "random-es", "bayesian-es")


def summary_markdown(summary, details) -> str:
    """The Markdown text of `summary.json` and `replay.json` dicts."""
    lines = _header(details)
    baselines = [name for name in BASELINES if name in details["tuners"]]
    for budget, entries in summary.items():
        lines += [
            f"## Budget {budget} ({details['budgets'][budget]} epochs)",
            "",
            "| tuner | mean test accuracy [95% CI] |"
            + "".join(f" vs {baseline} [95% CI] |" for baseline in baselines)
            + " mean regret [95% CI] | epochs used | trials | ended by budget |",
            "|" + "---|" * (len(baselines) + 6),
        ]
        lines += [
            _tuner_row(tuner, entry, baselines) for tuner, entry in entries.items()
        ]
        lines.append("")
        if all("table_noise" in entry for entry in entries.values()):
            versus = [name for name in NOISE_VERSUS if name in details["tuners"]]
            lines += [f"### With the table's noise, budget {budget}", ""]
            lines += _noise_rows(entries, versus) + [""]
    lines += ["## Definitions", "", DEFINITIONS]
    return "\n".join(lines)
