"""`kt-twostage report`: trial table, chosen trial and plots of a project."""

from __future__ import annotations


def register(subparsers):
    parser = subparsers.add_parser(
        "report",
        help="trial table (trials.csv), chosen configuration and plots of a "
        "two-stage project",
        description="Read a TwoStageTuner project folder (its oracle.json and "
        "trial_*/trial.json) and write trials.csv, report.md, "
        "stage1_units.png and stage2_learning_rate.png. Prints the report.",
    )
    parser.add_argument(
        "project_dir", metavar="DIR", help="the project folder (directory/project_name)"
    )
    parser.add_argument("--output", help="where to write (default: the project folder)")
    parser.add_argument(
        "--units-hp",
        help="units hyperparameter name (default: the one the project recorded; "
        "'units' for projects made before names were recorded)",
    )
    parser.add_argument(
        "--lr-hp",
        help="learning-rate hyperparameter name (default: the one the project "
        "recorded; 'learning_rate' for projects made before names were recorded)",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.set_defaults(func=run, uses_keras=False)


def run(args):
    from kt_twostage.results.report import report_project

    result = report_project(
        args.project_dir,
        args.output,
        units_hp=args.units_hp,
        learning_rate_hp=args.lr_hp,
        plots=not args.no_plots,
    )
    print(result["markdown"].split("\n## Plots")[0].rstrip())
    print()
    print("written: " + ", ".join(sorted(result["paths"].values())))
    return 0
