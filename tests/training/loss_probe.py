"""One optimizer step of the stages' own trainer at a learning rate of ~0; prints the logged loss and grad norm.

    python tests/training/loss_probe.py MODEL_DIR MICRO ACCUMULATION      (also under torchrun: the batch is split)
"""
import json
import sys
import tempfile
from pathlib import Path
from dataclasses import replace

import datasets
from transformers import AutoTokenizer, T5ForConditionalGeneration

from stages.modeling import models
from stages.training import loop
from stages.io import params

CFG = replace(params.load(Path(__file__).resolve().parents[2] / "params.yaml").train_full,
              learning_rate=1e-12, epochs=1, max_steps=1, batch_size=8, eval_batch_size=8,
              gradient_accumulation_steps=1, warmup_ratio=0.0, weight_decay=0.0, logging_steps=1, eval_steps=0,
              save_steps=0, seed=0, precision="fp32", group_by_length=False, pad_to_multiple_of=None,
              dataloader_workers=0)


def rows(tokenizer, n=8):
    # Targets of very different lengths: a per-micro-batch mean and a token mean then disagree clearly.
    sources = [" ".join(["hello there friend"] * (1 + i % 3)) for i in range(n)]
    targets = [" ".join(["a short summary"] * (1 + 3 * (i % 4))) for i in range(n)]
    inputs = tokenizer(sources)
    labels = tokenizer(text_target=targets)["input_ids"]
    return datasets.Dataset.from_dict({**inputs, "labels": labels, "length": [len(x) for x in inputs["input_ids"]]})


def step(model_dir, micro, accumulation) -> dict:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = T5ForConditionalGeneration.from_pretrained(model_dir, dropout_rate=0.0)  # no random masks
    cfg = replace(CFG, batch_size=micro, gradient_accumulation_steps=accumulation)
    data = rows(tokenizer)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = loop.build_trainer(cfg, model, tokenizer, data, data, scratch, "fp32")
        fed = []
        training_step = trainer.training_step

        def counting_step(model, inputs, *args, **kwargs):
            fed.append(len(inputs["labels"]))  # rows this process feeds in one micro-batch
            return training_step(model, inputs, *args, **kwargs)
        trainer.training_step = counting_step
        trainer.train()
        eval_loss = trainer.evaluate()["eval_loss"]
    entry = next(e for e in trainer.state.log_history if "loss" in e)
    return {"loss": entry["loss"], "grad_norm": entry["grad_norm"], "processes": models.world_size(),
            "micro": trainer.args.per_device_train_batch_size,
            "accumulation": trainer.args.gradient_accumulation_steps, "rows_per_step": sum(fed),
            "eval_loss": eval_loss}


if __name__ == "__main__":
    result = step(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    if models.is_main_process():
        print("RESULT " + json.dumps(result))
