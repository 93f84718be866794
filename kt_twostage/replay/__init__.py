"""Tuners replayed against a learning-curve table (`kt-twostage replay`).

Each search drives a real Keras Tuner oracle (`tuners`) by hand, looking every
trial's curve up in the table instead of training (`lookup`, `search`);
`run` repeats searches over seeds and budgets in processes; `summary`,
`markdown`, `plot` and `outputs` turn them into results with 95% intervals
(`stats`). Nothing here trains a model.
"""
