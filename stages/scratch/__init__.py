"""Models built from nothing, offline: a small T5 with flan-t5's architecture and a tokenizer learned from the
corpus (model), and the experiment that fine-tunes it on a CPU in minutes (experiment). Used by the try-it path
(`python -m stages.demo`) and by the tests' tiny model; never by a pipeline stage."""
