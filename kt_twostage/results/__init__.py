"""Reading results: a project's trial table, its report and the plots.

`trial_table` reads a project's Keras Tuner files as plain JSON (no Keras);
`report` writes a project's `trials.csv`, `report.md` and plots; `plots`
draws PNGs with matplotlib's Agg canvas.
"""
