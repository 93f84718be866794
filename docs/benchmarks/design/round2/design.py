# Design screen of the second round (docs/benchmarks/design/README.md), as run:
# PYTHONPATH=<snapshot of kt_twostage> python design.py SET SEEDS SUITE_DIR TABLE...
# SET is "first" (imdb.log, lcb.log) or "second" (imdb_b.log, lcb_b.log): the two
# candidate sets screened, one after the other.
import json
import os
import statistics as st
import sys
import time

from kt_twostage.replay import tuners as T
from kt_twostage.replay.run import run_replay
from kt_twostage.replay.settings import resolve_settings
from kt_twostage.replay.suite_run import stage1_rate
from kt_twostage.schedule.compass import SCOUT, TWO_STARTS
from kt_twostage.tabular.table import read_table

ES = T.EARLY_STOP
CANDIDATE_SETS = {
    "first": {
        "c-scout": T.two_stage_variant(stage2_rule=SCOUT, **ES),
        "c-scout-s1e2": T.two_stage_variant(stage2_rule=SCOUT, stage1_epochs=2, **ES),
        "c-scout-s1e3": T.two_stage_variant(stage2_rule=SCOUT, stage1_epochs=3, **ES),
        "c-twostarts-s1e3": T.two_stage_variant(
            stage2_rule=TWO_STARTS, stage1_epochs=3, **ES
        ),
        "c-ref-es-s1e3": T.two_stage_variant(stage1_epochs=3, **ES),
    },
    "second": {
        "c-scout-s1e2-p3": T.two_stage_variant(
            stage2_rule=SCOUT,
            stage1_epochs=2,
            stage2_patience=3,
            reinvest_stopped_epochs=True,
        ),
        "c-scout-s1e3-p3": T.two_stage_variant(
            stage2_rule=SCOUT,
            stage1_epochs=3,
            stage2_patience=3,
            reinvest_stopped_epochs=True,
        ),
        "c-scout-s1e2": T.two_stage_variant(stage2_rule=SCOUT, stage1_epochs=2, **ES),
    },
}
CANDS = CANDIDATE_SETS[sys.argv[1]]
T.TUNERS.update(CANDS)
seeds, suite_dir, tables = int(sys.argv[2]), sys.argv[3], sys.argv[4:]
out = {}
for path in tables:
    curves = read_table(path)
    for spec in ("0.001", "upper-quartile"):
        rate = stage1_rate(curves, spec)
        stem = os.path.splitext(os.path.basename(path))[0]
        entry = f"{stem}-lr{rate:g}"
        settings = resolve_settings(curves, stage1_learning_rate=rate)
        t = time.time()
        run = run_replay(
            curves,
            settings,
            tuners=list(CANDS),
            budgets=[0.5, 1],
            seeds=seeds,
            workers=2,
        )
        base = json.load(open(os.path.join(suite_dir, entry, "summary.json")))
        for mult, _ in run.budgets:
            label = f"{mult:g}x"
            means = {k: v["mean_test"] for k, v in base[label].items()}
            basel = {
                k: v for k, v in means.items() if not k.startswith("two-stage-scout")
            }
            best_base = max((v, k) for k, v in basel.items() if k != "two-stage")
            line = []
            for c in CANDS:
                m = st.mean(
                    r.test_accuracy
                    for r in run.results
                    if r.search.tuner == c and r.search.budget_multiple == mult
                )
                rank = 1 + sum(v > m for v in basel.values())
                line.append(f"{c}={m:.4f}(r{rank})")
                out.setdefault(c, {}).setdefault(label, []).append(rank)
            print(
                f"{entry} {label} best-base {best_base[1]}={best_base[0]:.4f} | "
                + " ".join(line),
                flush=True,
            )
        print(f"  {time.time() - t:.0f}s", flush=True)
for c, d in out.items():
    print(c, {k: round(st.mean(v), 2) for k, v in d.items()})
json.dump(out, open(f"ranks-{sys.argv[1]}.json", "w"))
