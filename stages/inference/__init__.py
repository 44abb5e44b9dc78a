"""Turning prompts into summaries: the inference engines (PyTorch's generate(), CTranslate2), the models they
load (a LoRA adapter merged into its base), longest-first batching, and the cache of converted models."""
