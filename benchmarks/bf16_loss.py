"""Does a bf16 CPU run learn like the fp32 one? The project's trainer on the same DialogSum dialogues, seed and
model (a random-weight flan-t5-small shape), once in fp32 and once with bf16 autocast; the loss curves side by side.

A second fp32 run with another seed gives the noise to compare the bf16-fp32 gap with: same data, other
initial weights and dropout masks.

    python benchmarks/bf16_loss.py            # a few minutes on 2 CPU cores
    python benchmarks/bf16_loss.py --quick    # tiny model: a smoke test
"""
import dataclasses
import tempfile

import common
from common import dialogsum, torch


def curve(args, precision: str, seed: int, train_set, tokenizer) -> list[float]:
    from transformers import set_seed

    from stages.training import loop

    p = common.project_params()
    cfg = dataclasses.replace(p.train_full, learning_rate=args.learning_rate, max_steps=args.steps,
                              batch_size=args.batch_size, logging_steps=args.every, eval_steps=0, save_steps=0,
                              warmup_ratio=0.0, precision=precision, seed=seed)
    set_seed(seed)
    torch.manual_seed(seed)
    model = common.make_model(args.shape)
    if seed != p.train_full.seed:  # make_model seeds 0 itself: re-draw the weights for the noise run
        model.apply(model._init_weights)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = loop.build_trainer(cfg, model, tokenizer, train_set, None, scratch, precision)
        trainer.train()
    return [round(e["loss"], 4) for e in trainer.state.log_history if "loss" in e]


def main(argv=None) -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--every", type=int, help="log the loss every this many steps")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.shape = args.shape or common.default_shape(args.quick)
    args.steps = args.steps or (6 if args.quick else 40)
    args.every = args.every or (2 if args.quick else 4)
    vocab_size = 400 if args.quick else common.SHAPES[args.shape]["vocab_size"]
    p = common.project_params()
    d = p.data
    tokenizer = common.tokenizer_for(args.data, vocab_size, args.cache)
    rows = common.load_rows(args.data)["train"][:args.steps * args.batch_size]
    train_set = dialogsum.model_inputs(dialogsum.tokenize(rows, tokenizer, d.prompt, d.max_source_length, d.max_target_length))
    record = {"benchmark": "bf16_loss", "started": common.now(), "load_average_start": common.load_average(),
              "machine": common.machine(), "settings": {k: str(v) if k in ("data", "cache", "out") else v
                                                       for k, v in vars(args).items()}}
    seed = p.train_full.seed
    runs = {"fp32": curve(args, "fp32", seed, train_set, tokenizer),
            "bf16": curve(args, "bf16", seed, train_set, tokenizer),
            "fp32_other_seed": curve(args, "fp32", seed + 1, train_set, tokenizer)}
    record["curves"] = runs
    gap = [abs(a - b) for a, b in zip(runs["fp32"], runs["bf16"])]
    noise = [abs(a - b) for a, b in zip(runs["fp32"], runs["fp32_other_seed"])]
    record["figures"] = {"drop_fp32": round(runs["fp32"][0] - runs["fp32"][-1], 4),
                         "drop_bf16": round(runs["bf16"][0] - runs["bf16"][-1], 4),
                         "max_gap_bf16_vs_fp32": round(max(gap), 4), "max_gap_other_seed": round(max(noise), 4),
                         "final_fp32": runs["fp32"][-1], "final_bf16": runs["bf16"][-1],
                         "final_fp32_other_seed": runs["fp32_other_seed"][-1]}
    record["load_average_end"] = common.load_average()
    record["finished"] = common.now()
    print(common.dumps(record["figures"]))
    common.write_result(args.out / f"bf16_loss_{record['machine']['device']}{'_quick' if args.quick else ''}.json",
                        record)


if __name__ == "__main__":
    main()
