"""Runs as DVC lists them, for the commands that compare experiments: states, flat params and the metrics read
from `dvc exp show --json` (runs), and the sweep's charts of ROUGE against a param and against cost
(sweep_plots); two runs compared: each read at its revision (revision), their ROUGE paired on the same dialogues
(pairing), the result in words (verdict) and drawn (forest). Used by stages.compare and stages.sweep, never by a
pipeline stage.

A sweep on a Ray cluster (stages.raysweep): the grid of `-S` settings (grid), the checks that every machine can
start from the commit (origin), the runs planned and those already done (sweepplan), the task each run is on a
worker (raytask: imports nothing of the project, it travels to the workers by value), the launch and progress
(raylaunch) and the summary (raysummary)."""
