"""DVC pipeline stages for fine-tuning dialogue summarizers; one module per stage."""
