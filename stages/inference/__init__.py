"""Turning prompts into summaries: what a model name or folder stands for (specs), the model made ready on its
device and precision and batched decoding, longest prompt first (decode), and one interface over the engines,
PyTorch's generate() and CTranslate2 (engines), with CTranslate2's same decoding (ct2) and its cache of converted
models (cache). The generate stage, validation during training, the summarize CLI and the server all decode here,
so the same params give the same summaries everywhere; training decodes with torch only (decode, specs)."""
