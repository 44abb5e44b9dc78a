"""Training a model that can be trusted: the Trainer set up with the right loss and batch (loop), LoRA and its
variants (adapters), resuming only matching checkpoints (checkpoints), stopping diverged runs (guard), one run
per scratch folder that dies with its parent (lock), cost that survives resumes (progress), and choosing the
checkpoint on validation ROUGE (selection)."""
