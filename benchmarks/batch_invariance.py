"""Do summaries depend on the batch size they are decoded in? The generate stage's summarize() at batch 1 and 32,
in fp32 and in bf16 weights, on DialogSum test dialogues, by a small model trained briefly with the project's
trainer (the tests' tiny T5 shape: a random-weight model writes nothing worth comparing).

A batch pads its prompts to the longest and runs other matrix shapes, so the float sums round differently; where
two next tokens are nearly tied, greedy decoding can then pick another one and the summary goes on differently.
The share of summaries that change is the figure (docs/speed.md).

    python benchmarks/batch_invariance.py            # about ten minutes on 2 CPU cores
    python benchmarks/batch_invariance.py --quick    # tiny corpus, a few dialogues: a smoke test
"""
import copy
import dataclasses
import random
import tempfile

import common
from common import dialogsum, torch

from stages.inference import decode

SIZES = (1, 32)


def trained_model(args, tokenizer, rows):
    """The tiny shape, fine-tuned on the train split in fp32 (the project's trainer and params, shorter)."""
    from transformers import set_seed

    from stages.training import loop

    p = common.project_params()
    d = p.data
    train_set = dialogsum.model_inputs(dialogsum.tokenize(rows, tokenizer, d.prompt, d.max_source_length,
                                                          d.max_target_length))
    cfg = dataclasses.replace(p.train_full, learning_rate=args.learning_rate, max_steps=args.steps,
                              batch_size=args.batch_size, logging_steps=max(1, args.steps // 10), eval_steps=0,
                              save_steps=0, warmup_ratio=0.0, precision="fp32", rouge_samples=0, select_metric="last")
    set_seed(cfg.seed)
    model = common.make_model(args.shape)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = loop.build_trainer(cfg, model, tokenizer, train_set, None, scratch, "fp32")
        trainer.train()
    losses = [round(e["loss"], 4) for e in trainer.state.log_history if "loss" in e]
    return model.eval(), losses


def main(argv=None) -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--dialogues", type=int, help="distinct test dialogues decoded (default: all)")
    parser.add_argument("--steps", type=int, help="training steps (default 600; --quick 30)")
    parser.add_argument("--batch-size", type=int, default=16, help="training batch")
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--max-new-tokens", type=int, help="default: params.yaml generate.max_new_tokens")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.shape = args.shape or "tiny"
    args.steps = args.steps or (30 if args.quick else 600)
    p = common.project_params()
    d = p.data
    vocab_size = 400 if args.quick else common.SHAPES[args.shape]["vocab_size"]
    tokenizer = common.tokenizer_for(args.data, vocab_size, args.cache)
    splits = common.load_rows(args.data)
    model, losses = trained_model(args, tokenizer, splits["train"])

    test = dialogsum.tokenize(splits["test"], tokenizer, d.prompt, d.max_source_length, d.max_target_length)
    prompts = [list(ids) for ids in decode.distinct(test["input_ids"])]
    if args.dialogues and args.dialogues < len(prompts):
        prompts = random.Random(d.seed).sample(prompts, args.dialogues)
    cfg = dataclasses.replace(p.generate, max_new_tokens=args.max_new_tokens or p.generate.max_new_tokens)
    record = {"benchmark": "batch_invariance", "started": common.now(), "load_average_start": common.load_average(),
              "machine": common.machine(),
              "settings": {"shape": args.shape, "dialogues": len(prompts), "train_steps": args.steps,
                           "train_batch_size": args.batch_size, "learning_rate": args.learning_rate,
                           "batch_sizes": SIZES, "max_new_tokens": cfg.max_new_tokens, "threads": args.threads,
                           "quick": args.quick, "data": str(args.data)},
              "train_loss": losses}

    summaries = {}
    for precision in ("fp32", "bf16"):
        # The generate stage's path: weights cast once, eval mode (decode.ready), then length-sorted batches.
        ready = decode.ready(copy.deepcopy(model), precision)
        for size in SIZES:
            summaries[precision, size] = decode.summarize(ready, tokenizer, prompts,
                                                          dataclasses.replace(cfg, batch_size=size), progress=False)
            print(f"{precision}, batch {size}: decoded {len(prompts)} dialogues, load {common.load_average()}",
                  flush=True)

    def changed(a, b) -> dict:
        count = sum(x != y for x, y in zip(summaries[a], summaries[b]))
        return {"changed": count, "of": len(prompts), "share": round(count / len(prompts), 4)}

    record["figures"] = {
        "fp32_batch_1_vs_32": changed(("fp32", 1), ("fp32", 32)),
        "bf16_batch_1_vs_32": changed(("bf16", 1), ("bf16", 32)),
        "bf16_vs_fp32_batch_32": changed(("bf16", 32), ("fp32", 32)),
        "empty_summaries_fp32": sum(not s for s in summaries["fp32", 32]),
        "mean_summary_words_fp32": round(sum(len(s.split()) for s in summaries["fp32", 32]) / len(prompts), 2),
    }
    record["examples"] = [{"fp32": summaries["fp32", 32][i], "bf16_batch_1": summaries["bf16", 1][i],
                           "bf16_batch_32": summaries["bf16", 32][i]}
                          for i in range(len(prompts)) if summaries["bf16", 1][i] != summaries["bf16", 32][i]][:5]
    record["load_average_end"] = common.load_average()
    record["finished"] = common.now()
    for name, figure in record["figures"].items():
        print(f"{name}: {figure}")
    common.write_result(args.out / f"batch_invariance_{record['machine']['device']}{'_quick' if args.quick else ''}"
                                   ".json", record)


if __name__ == "__main__":
    main()
