"""The suite summary: several replays (tables x stage-1 learning rates) at once.

`suite_summary(entries)` takes `{entry name: (ReplayRun, table_noise)}`, all
with the same tuners and budgets, and gives per budget and tuner:

- **mean rank** over the entries (1 the best on an entry), with a 95%
  interval: replicate `b` of the suite averages replicate `b` of every
  entry's hierarchical bootstrap (`kt_twostage.replay.bootstrap`), so the
  interval covers the searches and the tables' noise, not the choice of
  tables;
- **wins, ties and losses** against every other tuner: on how many entries
  the 95% interval of the paired difference of mean outcomes (with the
  table's noise) lies above 0, contains 0, or lies below 0;
- **mean normalised regret** over the entries, with its interval (see
  `kt_twostage.replay.table_noise`);
- per entry, the rank, the normalised regret and the mean outcome.

`suite_markdown` writes it as tables, `write_suite_plot` draws the
normalised regret per entry and tuner. The two stage-1 learning rates of a
table count as two entries.
"""

from __future__ import annotations

import json
import os

import numpy as np

from kt_twostage import _io
from kt_twostage.replay.bootstrap import percentile_interval
from kt_twostage.replay.settings import budget_label
from kt_twostage.replay.table_noise import point_ranks
from kt_twostage.results import plots

SUITE_FILES = ("suite.json", "suite.md", "suite.png")
COVERS = (
    "95% percentile intervals of a hierarchical bootstrap: in every replicate "
    "each configuration's recorded runs are resampled with replacement, then "
    "the searches; each search's chosen configuration, epoch and run index "
    "are held fixed and its outcome re-read from the resampled table. They "
    "cover which searches ran and the training noise of the chosen "
    "configurations (as the recorded seeds show it), not that another "
    "recording would change the tuners' choices, nor the choice of tables. "
    "The replicates are centred on the observed values (re-reading a fixed "
    "choice from another run takes away the edge of having chosen on that "
    "run): the intervals use the bootstrap's spread, not its shift."
)


def _interval(point, replicates) -> dict:
    low, high = percentile_interval(replicates)
    return {"mean": float(point), "ci95_low": low, "ci95_high": high}


def _check_entries(entries):
    if not entries:
        raise ValueError("Expected at least one replay in a suite, got none.")
    runs = [run for run, _ in entries.values()]
    first = runs[0]
    for name, (run, _) in entries.items():
        if run.tuners != first.tuners or [m for m, _ in run.budgets] != [
            m for m, _ in first.budgets
        ]:
            raise ValueError(
                f"Every replay of a suite needs the same tuners and budgets; "
                f"{name!r} has {list(run.tuners)} at "
                f"{[m for m, _ in run.budgets]}, the first has "
                f"{list(first.tuners)} at {[m for m, _ in first.budgets]}."
            )
    return first


def suite_summary(entries) -> dict:
    """The `suite.json` dict of `{entry: (ReplayRun, table_noise)}`."""
    first = _check_entries(entries)
    budgets = {}
    for multiple, _ in first.budgets:
        noises = {name: noise[multiple] for name, (_, noise) in entries.items()}
        budgets[budget_label(multiple)] = _budget_summary(first.tuners, noises)
    return {
        "entries": {
            name: {
                "table": run.curves.path,
                "stage1_learning_rate": run.settings.stage1_learning_rate,
                "seeds_per_tuner": run.seeds,
            }
            for name, (run, _) in entries.items()
        },
        "tuners": list(first.tuners),
        "intervals": COVERS,
        "budgets": budgets,
    }


def _budget_summary(tuners, noises) -> dict:
    point_rank = {name: point_ranks(n.point_means) for name, n in noises.items()}
    out = {}
    for tuner in tuners:
        ranks = np.mean([n.ranks[tuner] for n in noises.values()], axis=0)
        regrets = np.mean([n.normalised_regret[tuner] for n in noises.values()], axis=0)
        versus = {}
        for other in tuners:
            if other != tuner:
                versus[other] = _wins_ties_losses(noises, tuner, other)
        out[tuner] = {
            "mean_rank": _interval(
                np.mean([r[tuner] for r in point_rank.values()]), ranks
            ),
            "mean_normalised_regret": _interval(
                np.mean([n.point_normalised_regret[tuner] for n in noises.values()]),
                regrets,
            ),
            "versus": versus,
            "per_entry": {
                name: {
                    "rank": point_rank[name][tuner],
                    "normalised_regret": n.point_normalised_regret[tuner],
                    "mean_test": n.point_means[tuner],
                }
                for name, n in noises.items()
            },
        }
    return out


def _wins_ties_losses(noises, tuner, other) -> dict:
    counts = {"wins": [], "ties": [], "losses": []}
    for name, noise in noises.items():
        low, high = percentile_interval(noise.means[tuner] - noise.means[other])
        outcome = "wins" if low > 0 else "losses" if high < 0 else "ties"
        counts[outcome].append(name)
    return {**{k: len(v) for k, v in counts.items()}, "entries": counts}


def _cell(interval, digits=2):
    return (
        f"{interval['mean']:.{digits}f} [{interval['ci95_low']:.{digits}f}, "
        f"{interval['ci95_high']:.{digits}f}]"
    )


def suite_markdown(suite) -> str:
    """`suite.md`: per budget, the tuners by mean rank, their wins/ties/losses
    and every entry's rank."""
    tuners, names = suite["tuners"], list(suite["entries"])
    lines = ["# Replay suite", ""]
    for name, entry in suite["entries"].items():
        lines.append(
            f"- `{name}`: `{entry['table']}`, stage-1 learning rate "
            f"{entry['stage1_learning_rate']:g}, {entry['seeds_per_tuner']} "
            "searches per tuner."
        )
    lines += ["", f"**Intervals.** {suite['intervals']}", ""]
    for budget, summary in suite["budgets"].items():
        order = sorted(tuners, key=lambda t: summary[t]["mean_rank"]["mean"])
        lines += [
            f"## Budget {budget}",
            "",
            "| tuner | mean rank [95% CI] | mean normalised regret [95% CI] | "
            "wins / ties / losses against the others |"
            + "".join(f" rank on {name} |" for name in names),
            "|" + "---|" * (4 + len(names)),
        ]
        for tuner in order:
            entry = summary[tuner]
            record = [entry["versus"][o] for o in entry["versus"]]
            totals = "/".join(
                str(sum(r[key] for r in record)) for key in ("wins", "ties", "losses")
            )
            lines.append(
                f"| {tuner} | {_cell(entry['mean_rank'])} | "
                f"{_cell(entry['mean_normalised_regret'], 3)} | {totals} |"
                + "".join(f" {entry['per_entry'][name]['rank']:g} |" for name in names)
            )
        lines += ["", f"### Budget {budget}: wins / ties / losses, row vs column", ""]
        lines += [
            "| | " + " | ".join(order) + " |",
            "|" + "---|" * (1 + len(order)),
        ]
        for tuner in order:
            cells = []
            for other in order:
                if other == tuner:
                    cells.append("-")
                    continue
                r = summary[tuner]["versus"][other]
                cells.append(f"{r['wins']}/{r['ties']}/{r['losses']}")
            lines.append(f"| {tuner} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_suite_plot(suite, path) -> str:
    """`suite.png`: normalised regret per entry (x) and tuner (one marker
    line each), one panel per budget."""
    budgets = list(suite["budgets"])
    names = list(suite["entries"])
    width = len(budgets) * max(5.0, 1.0 * len(names))
    figure, axes = plots.new_figure(len(budgets), width, 4.5, sharey=True)
    x = np.arange(len(names))
    for axis, budget in zip(axes, budgets, strict=True):
        for number, tuner in enumerate(suite["tuners"]):
            per_entry = suite["budgets"][budget][tuner]["per_entry"]
            values = [per_entry[name]["normalised_regret"] for name in names]
            axis.plot(
                x,
                values,
                marker="o",
                linewidth=1.0,
                color=plots.COLORS[number % len(plots.COLORS)],
                linestyle="-" if number < len(plots.COLORS) else "--",
                label=tuner,
            )
        axis.axhline(0.0, color="black", linewidth=0.6)
        axis.set_xticks(x)
        axis.set_xticklabels(names, rotation=30, ha="right", fontsize="small")
        axis.set_title(f"budget {budget}")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("normalised regret (0: optimum, 1: random)")
    axes[-1].legend(loc="upper right", fontsize="x-small")
    return plots.save_png(figure, path)


def write_suite(entries, out_dir, *, seconds=None, command=None) -> dict:
    """Write `suite.json`, `suite.md` and `suite.png` of `{entry: (ReplayRun,
    table_noise)}` into `out_dir`; returns `{name: path}`. `seconds` and
    `command` are recorded in `suite.json`."""
    os.makedirs(out_dir, exist_ok=True)
    suite = suite_summary(entries)
    suite["seconds"] = seconds
    suite["command"] = command
    paths = {name: os.path.join(out_dir, name) for name in SUITE_FILES}
    _io.atomic_write_text(paths["suite.json"], json.dumps(suite, indent=1) + "\n")
    _io.atomic_write_text(paths["suite.md"], suite_markdown(suite))
    write_suite_plot(suite, paths["suite.png"])
    return paths
