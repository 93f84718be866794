"""PNG plots of tuner comparisons and two-stage searches (matplotlib, Agg).

matplotlib is imported inside each function (it is in the `compare` extra),
so `import kt_twostage` never needs it. Figures are drawn with the Agg
canvas directly, without `pyplot`, so no global state or display is touched,
and every file is written atomically.
"""

from __future__ import annotations

import io
import math

from kt_twostage import _io

# One color per tuner, stable across plots (matplotlib's default cycle).
COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def new_figure(ncols=1, width=7.0, height=4.5, sharey=False):
    """A matplotlib `Figure` on the Agg canvas and its `ncols` axes."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "The plots need matplotlib: `pip install 'kt-twostage[compare]'` "
            "(or `pip install matplotlib`)."
        ) from error
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, ncols, squeeze=False, sharey=sharey)[0]
    return figure, axes


def save_png(figure, path) -> str:
    """Write `figure` as a PNG at `path`, atomically; returns the path."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    with _io.atomic_file(path, binary=True) as handle:
        handle.write(buffer.getvalue())
    return str(path)


def _step_values(points, grid):
    """A best-so-far step function (sorted `(x, y)` points) sampled on `grid`.

    NaN before the first point: nothing had finished yet.
    """
    values = []
    index = -1
    for x in grid:
        while index + 1 < len(points) and points[index + 1][0] <= x:
            index += 1
        values.append(points[index][1] if index >= 0 else math.nan)
    return values


def plot_best_so_far(curves, path, *, xlabel, ylabel, title, references=None):
    """Best-so-far score against a cost axis: one line per tuner.

    Args:
        curves: `{label: [points of seed 1, points of seed 2, ...]}`, each a
            list of `(cost, score)` sorted by cost (`score` may be None while
            the tuner has nothing to return). The line is the mean over seeds
            once every seed has a score; the band spans the seeds' min to max.
        path: Where to write the PNG.
        references: Optional `{label: value}` drawn as dashed horizontal lines.
    """
    figure, (axis,) = new_figure()
    for number, (label, runs) in enumerate(curves.items()):
        runs = [[(x, y) for x, y in points if y is not None] for points in runs]
        runs = [points for points in runs if points]
        if not runs:
            continue
        color = COLORS[number % len(COLORS)]
        end = max(points[-1][0] for points in runs)
        start = max(points[0][0] for points in runs)
        xs = sorted(
            {start, end, *(x for points in runs for x, _ in points if x >= start)}
        )
        # Steps: sample just before and at every change point.
        grid = []
        for x in xs:
            if grid:
                grid.append(x - 1e-9 * max(1.0, abs(x)))
            grid.append(x)
        sampled = [_step_values(points, grid) for points in runs]
        mean = [sum(column) / len(column) for column in zip(*sampled, strict=True)]
        low = [min(column) for column in zip(*sampled, strict=True)]
        high = [max(column) for column in zip(*sampled, strict=True)]
        axis.plot(grid, mean, color=color, label=f"{label} (n={len(runs)})")
        if len(runs) > 1:
            axis.fill_between(grid, low, high, color=color, alpha=0.15, linewidth=0)
    for number, (label, value) in enumerate((references or {}).items()):
        axis.axhline(
            value,
            color="black",
            linestyle=("--", ":", "-.")[number % 3],
            linewidth=1,
            label=label,
        )
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small", loc="lower right")
    return save_png(figure, path)


def plot_stage1(series, path, *, ylabel="validation score", title=None):
    """Stage-1 score against units: `{label: [(units, score), ...]}`."""
    figure, (axis,) = new_figure()
    for number, (label, points) in enumerate(series.items()):
        points = [(x, y) for x, y in points if y is not None]
        if not points:
            continue
        points = sorted(points, key=lambda point: _sort_key(point[0]))
        xs, ys = [x for x, _ in points], [y for _, y in points]
        axis.plot(
            [str(x) for x in xs] if _is_categorical(xs) else xs,
            ys,
            marker="o",
            color=COLORS[number % len(COLORS)],
            label=label,
        )
    axis.set_xlabel("units (stage-1 architecture value)")
    axis.set_ylabel(ylabel)
    axis.set_title(title or "Stage 1: score of each architecture")
    axis.grid(alpha=0.3)
    if len(series) > 1 or any(series):
        axis.legend(fontsize="small")
    return save_png(figure, path)


def plot_stage2_path(series, path, *, ylabel="validation score", title=None):
    """Stage-2 learning rate and score per trial.

    Args:
        series: `{label: [(stage-2 trial number, learning rate, score), ...]}`;
            a failed trial has score None.
    """
    figure, (top, bottom) = new_figure(ncols=2, width=10.0, height=4.2)
    for number, (label, points) in enumerate(series.items()):
        if not points:
            continue
        color = COLORS[number % len(COLORS)]
        steps = [point[0] for point in points]
        top.plot(
            steps, [point[1] for point in points], marker="o", color=color, label=label
        )
        scored = [(point[0], point[2]) for point in points if point[2] is not None]
        if scored:
            bottom.plot(
                [step for step, _ in scored],
                [score for _, score in scored],
                marker="o",
                color=color,
                label=label,
            )
    top.set_yscale("log")
    top.set_xlabel("stage-2 trial")
    top.set_ylabel("learning rate")
    top.set_title("Stage 2: learning-rate path")
    bottom.set_xlabel("stage-2 trial")
    bottom.set_ylabel(ylabel)
    bottom.set_title("Stage 2: score of each trial")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
    if series:
        top.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    return save_png(figure, path)


def _is_categorical(values):
    return any(isinstance(value, str) for value in values)


def _sort_key(value):
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))
