"""Turning prompts into summaries: the model a pipeline name stands for, made ready on its device and
precision, and batched decoding (decode). The generate stage, validation during training and the summarize CLI
all decode here, so the same params give the same summaries everywhere."""
