"""Models on disk and on the device: loading, snapshotting and measuring the base model, full fine-tunes and
LoRA adapters (models), which base weights an adapter was trained on, checked when it is loaded (identity),
safetensors-only weights with flan-t5's own lm_head kept untied (weights), and which device and precision the
hardware runs natively (hardware)."""
