"""Runs as DVC lists them, for the commands that compare experiments: states, flat params and the metrics read
from `dvc exp show --json` (runs), and the sweep's charts of ROUGE against a param and against cost
(sweep_plots); two runs compared: each read at its revision (revision), their ROUGE paired on the same dialogues
(pairing), the result in words (verdict) and drawn (forest). Used by stages.compare and stages.sweep, never by a
pipeline stage."""
