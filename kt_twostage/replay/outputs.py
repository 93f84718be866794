"""What a replay writes: summary.json, replay.json, summary.md, searches.csv
and regret.png.

- `summary.json`: `{budget: {tuner: {...}}}`, budgets named `"0.25x"`,
  `"1x"`, ... (multiples of B, the two-stage schedule's epochs); per tuner
  `mean_test`, `ci95_low`, `ci95_high` (95% t interval of the mean outcome),
  `n_seeds`, `mean_epochs` (epochs used, mean over the searches), and beside
  them `budget_epochs`, `mean_trials`, `ended_by_budget` (share of searches
  that the budget ended rather than the oracle), `regret_mean`,
  `regret_ci95_low`, `regret_ci95_high`, and `diff_vs_two-stage` (the paired
  difference of outcomes to the reference rule, same seed index; absent for
  the reference itself or when it was not run), and `table_noise`: the
  hierarchical bootstrap's 95% intervals of the mean outcome, the rank, the
  normalised regret and the paired differences against every other tuner,
  which include the table's own noise, with the per-recorded-seed means
  (`kt_twostage.replay.bootstrap` says what they cover).
- `replay.json`: the table, settings, budgets, optimum, seeds, timings.
- `summary.md`: the same as tables, with the definitions.
- `searches.csv`: one row per search.
- `regret.png`: mean regret of the incumbent against epochs used, one panel
  per budget, with 95% bands.

Outcome and regret are defined in `kt_twostage.replay.summary`.
"""

from __future__ import annotations

import csv
import io
import json
import os

from kt_twostage import _io
from kt_twostage.replay.markdown import summary_markdown
from kt_twostage.replay.plot import write_regret_plot
from kt_twostage.replay.summary import (
    SEARCH_COLUMNS,
    describe,
    search_rows,
    summarize,
)

SUMMARY_FILE = "summary.json"
DETAILS_FILE = "replay.json"
MARKDOWN_FILE = "summary.md"
SEARCHES_FILE = "searches.csv"
PLOT_FILE = "regret.png"
FILES = (SUMMARY_FILE, DETAILS_FILE, MARKDOWN_FILE, SEARCHES_FILE, PLOT_FILE)


def write_outputs(
    run, out_dir, *, table_sha256=None, load_average=None, command=None, noise=None
) -> dict:
    """Write every file of a replay into `out_dir`; returns `{name: path}`.

    Args:
        run: A `ReplayRun`.
        out_dir: The folder (created if missing).
        table_sha256: String, the table file's sha256 when it was read (a
            table being recorded changes), recorded in `replay.json`.
        load_average: Optional, the machine's load, recorded beside the
            timings.
        command: Optional string, the command line.
        noise: The run's `table_noise`, if already computed.
    """
    from kt_twostage.replay.table_noise import table_noise

    os.makedirs(out_dir, exist_ok=True)
    noise = table_noise(run) if noise is None else noise
    summary = summarize(run, noise)
    details = describe(
        run, table_sha256=table_sha256, load_average=load_average, command=command
    )
    paths = {name: os.path.join(out_dir, name) for name in FILES}
    _io.atomic_write_text(paths[SUMMARY_FILE], json.dumps(summary, indent=1) + "\n")
    _io.atomic_write_text(paths[DETAILS_FILE], json.dumps(details, indent=1) + "\n")
    _io.atomic_write_text(paths[MARKDOWN_FILE], summary_markdown(summary, details))
    _io.atomic_write_text(paths[SEARCHES_FILE], _csv_text(search_rows(run)))
    write_regret_plot(run, paths[PLOT_FILE])
    return paths


def _csv_text(rows) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SEARCH_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
