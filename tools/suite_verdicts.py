"""Per-entry verdicts of one tuner against the best baseline, from a suite folder.

For each entry (table, stage-1 rate) and budget of `kt-twostage replay`'s suite
output: the tuner's mean test accuracy, the best baseline's (the baseline with
the highest mean), and the paired difference with its table-noise interval
(`summary.json`, `table_noise`). "loses" when that interval lies below 0, "wins"
when above, "tie" otherwise. Writes a Markdown table to standard output.

    python tools/suite_verdicts.py docs/benchmarks/suite/lcbench \
        --tuner two-stage-scout-s1e2
"""

from __future__ import annotations

import argparse
import json
import os

from kt_twostage.replay.tuners import BASELINE_TUNERS as BASELINES
from kt_twostage.replay.tuners import RECOMMENDED


def verdicts(suite_dir, tuner):
    suite = json.load(open(os.path.join(suite_dir, "suite.json")))
    rows = []
    for entry in suite["entries"]:
        summary = json.load(open(os.path.join(suite_dir, entry, "summary.json")))
        for budget, tuners in summary.items():
            mine = tuners[tuner]["table_noise"]
            best = max(
                (b for b in BASELINES if b in tuners),
                key=lambda b: tuners[b]["table_noise"]["mean_test"]["mean"],
            )
            diff = mine[f"diff_vs_{best}"]
            verdict = (
                "loses"
                if diff["ci95_high"] < 0
                else "wins"
                if diff["ci95_low"] > 0
                else "tie"
            )
            rows.append(
                (
                    entry,
                    budget,
                    mine["mean_test"]["mean"],
                    mine["rank"]["mean"],
                    best,
                    tuners[best]["table_noise"]["mean_test"]["mean"],
                    diff,
                    verdict,
                )
            )
    return rows


def markdown(rows, tuner):
    lines = [
        f"| entry | budget | {tuner} | rank | best baseline | its mean | "
        "difference [table-noise 95% CI] | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry, budget, mean, rank, best, best_mean, diff, verdict in rows:
        lines.append(
            f"| {entry} | {budget} | {mean:.4f} | {rank:g} | {best} | {best_mean:.4f} "
            f"| {diff['mean']:+.4f} [{diff['ci95_low']:+.4f}, {diff['ci95_high']:+.4f}]"
            f" | {verdict} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite_dir")
    parser.add_argument("--tuner", default=RECOMMENDED)
    args = parser.parse_args(argv)
    print(markdown(verdicts(args.suite_dir, args.tuner), args.tuner))


if __name__ == "__main__":
    main()
