"""Mean ranks over several suite folders, split into design and confirmation.

Each suite folder (`kt-twostage replay T1.csv T2.csv ... --out DIR`) ranks the
tuners on its own entries (table x stage-1 learning rate); its `suite.json`
holds every entry's rank. This script pools the entries of several folders
that ran the same tuners and budgets, and prints, per budget, each tuner's
mean rank over all entries, over the design entries and over the
confirmation entries (`--confirmation`: table names, without `.csv`), and
how many entries it was first on (ties share the rank, as in the suite).

Point values only: the bootstrap intervals of the mean ranks are in each
folder's `suite.md` (a pooled interval would need the runs, not the files).

    python tools/suite_ranks.py \\
        docs/benchmarks/suite/imdb docs/benchmarks/suite/lcbench \\
        --confirmation imdb-gru-adam,lcbench-126025,lcbench-126026,lcbench-126029
"""

from __future__ import annotations

import argparse
import json
import os


def entry_table(entry: str) -> str:
    """The table of an entry name `<table>-lr<rate>`."""
    return entry.rsplit("-lr", 1)[0]


def pooled_ranks(suites, confirmation=()) -> dict:
    """`{budget: {tuner: {"all"|"design"|"confirmation": (mean rank, firsts,
    entries)}}}` over the entries of `suites` (parsed `suite.json` files).

    Raises:
        ValueError: the suites ran different tuners or budgets, or two hold
            the same entry.
    """
    confirmation = set(confirmation)
    first = suites[0]
    seen = set()
    ranks = {}
    for suite in suites:
        if set(suite["budgets"]) != set(first["budgets"]):
            raise ValueError("The suites ran different budgets.")
        for budget, tuners in suite["budgets"].items():
            if set(tuners) != set(first["budgets"][budget]):
                raise ValueError(f"The suites ran different tuners at {budget}.")
            for tuner, summary in tuners.items():
                for entry, cell in summary["per_entry"].items():
                    if (budget, tuner, entry) in seen:
                        raise ValueError(f"Entry {entry} is in two suites.")
                    seen.add((budget, tuner, entry))
                    group = (
                        "confirmation"
                        if entry_table(entry) in confirmation
                        else "design"
                    )
                    cells = ranks.setdefault(budget, {}).setdefault(tuner, {})
                    cells.setdefault(group, []).append(cell["rank"])
                    cells.setdefault("all", []).append(cell["rank"])
    return {
        budget: {
            tuner: {
                group: (sum(values) / len(values), values.count(1.0), len(values))
                for group, values in groups.items()
            }
            for tuner, groups in tuners.items()
        }
        for budget, tuners in ranks.items()
    }


def markdown(pooled) -> str:
    lines = []
    for budget, tuners in pooled.items():
        lines += [
            f"## Budget {budget}",
            "",
            "| tuner | mean rank, all entries | design entries | "
            "confirmation entries | first on |",
            "|---|---|---|---|---|",
        ]
        order = sorted(tuners, key=lambda tuner: tuners[tuner]["all"][0])
        for tuner in order:
            groups = tuners[tuner]
            cells = [
                f"{groups[g][0]:.2f} ({groups[g][2]})" if g in groups else "-"
                for g in ("all", "design", "confirmation")
            ]
            firsts = f"{groups['all'][1]} of {groups['all'][2]}"
            lines.append(f"| {tuner} | {' | '.join(cells)} | {firsts} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite_dirs", nargs="+")
    parser.add_argument(
        "--confirmation", default="", help="comma-separated table names"
    )
    args = parser.parse_args(argv)
    suites = []
    for folder in args.suite_dirs:
        with open(os.path.join(folder, "suite.json")) as handle:
            suites.append(json.load(handle))
    confirmation = [name for name in args.confirmation.split(",") if name]
    print(markdown(pooled_ranks(suites, confirmation)))


if __name__ == "__main__":
    main()
