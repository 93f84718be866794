"""`regret.png`: mean regret of the incumbent against epochs used.

One panel per budget. At `e` epochs a search's incumbent is the trial its
oracle ranked first after the last trial that ended within `e` epochs; after
the search ended its result stands. A line starts where every search has an
incumbent. The band is the 95% t interval over the searches; the y axis
shows the regret from a quarter of the budget on. Drawn with
matplotlib's Agg canvas (no `pyplot`, no display), written atomically.
"""

from __future__ import annotations

import numpy as np

from kt_twostage.replay.settings import budget_label
from kt_twostage.replay.stats import interval_bands
from kt_twostage.replay.summary import optimum_of, results_by
from kt_twostage.results import plots


def incumbent_matrix(results, epochs) -> np.ndarray:
    """`(searches, epochs + 1)` test accuracy of each search's incumbent after
    `0..epochs` epochs; NaN before its first trial ended."""
    matrix = np.full((len(results), epochs + 1), np.nan)
    for row, result in enumerate(results):
        for used, test_accuracy in result.incumbents:
            matrix[row, used:] = test_accuracy
    return matrix


def regret_bands(results, epochs, optimum):
    """`(x, mean, low, high)` of the regret where every search has an
    incumbent."""
    regret = optimum - incumbent_matrix(results, epochs)
    complete = ~np.isnan(regret).any(axis=0)
    x = np.arange(epochs + 1)[complete]
    mean, low, high = interval_bands(regret[:, complete])
    return x, mean, low, high


def write_regret_plot(run, path) -> str:
    """Draw the regret of every tuner at every budget of `run` to `path`."""
    optimum = optimum_of(run).test_accuracy
    grouped = results_by(run)
    panels = len(run.budgets)
    figure, axes = plots.new_figure(panels, 4.2 * panels, 4.2, sharey=True)
    for axis, (multiple, epochs) in zip(axes, run.budgets, strict=True):
        shown = []
        for number, tuner in enumerate(run.tuners):
            x, mean, low, high = regret_bands(grouped[multiple, tuner], epochs, optimum)
            color = plots.COLORS[number % len(plots.COLORS)]
            axis.plot(x, mean, color=color, label=tuner, linewidth=1.5)
            axis.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
            shown.append((x, mean, low, high))
        _zoom(axis, shown, epochs)
        axis.axhline(0.0, color="black", linewidth=0.6)
        axis.set_title(f"budget {budget_label(multiple)} ({epochs} epochs)")
        axis.set_xlabel("epochs used")
        axis.set_xlim(0, epochs)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("mean regret (test accuracy), 95% CI")
    axes[-1].legend(loc="upper right", fontsize="small")
    return plots.save_png(figure, path)


def _zoom(axis, shown, epochs):
    """Show the regret from a quarter of the budget on: the first trials
    (1-epoch stage-1 trials, Hyperband's shortest rounds) score far lower and
    would flatten the differences that matter."""
    later, everything = [], []
    for x, mean, low, high in shown:
        for values in (mean, low, high):
            everything += list(values[~np.isnan(values)])
            keep = (x >= epochs / 4) & ~np.isnan(values)
            later += list(values[keep])
    if not later:
        return
    top, bottom = max(later), min(min(everything), 0.0)
    margin = 0.05 * (top - bottom) or 0.01
    axis.set_ylim(bottom - margin, top + margin)
