"""Training and generation tokens/s of a small decoder-only LLM (Qwen2.5-0.5B's shape) beside flan-t5-base's
shape, through the project's own batches and loss (stages/training/causal.py for the LLM, DataCollatorForSeq2Seq
and loop.token_mean_loss for T5), on this machine.

Random weights of the real shapes (speed does not depend on weight values; the Hub is not needed), random token
ids, a few steps at short sequences: a DialogSum-like prompt of --source tokens and a --target-token summary
(the LLM reads both as one sequence; T5 reads the prompt in its encoder and the summary in its decoder).
Training is LoRA on each family's default layers (--method full for every weight: about 8 GB of RAM for the
0.5B model's fp32 weights, gradients and AdamW states); generation is greedy, every row forced to
--new-tokens new tokens, so both count the same work.

    nice -n 10 python benchmarks/llm.py                 # a few minutes on 2 CPU cores
    python benchmarks/llm.py --quick                    # tiny shapes: a smoke test
"""
import time
from types import SimpleNamespace

import common
from common import models, torch

SHAPES = {
    "qwen2.5-0.5b": dict(family="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         tie_word_embeddings=True, max_position_embeddings=32768),
    "flan-t5-base": dict(family="t5", **common.SHAPES["flan-t5-base"]),
    "tiny-qwen2": dict(family="qwen2", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                       max_position_embeddings=1024),
    "tiny-t5": dict(family="t5", **common.SHAPES["tiny"]),
}


def build(name: str):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = dict(SHAPES[name])
    kind = shape.pop("family")
    if kind == "t5":
        common.SHAPES.setdefault(name, shape)
        return common.make_model(name)
    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(**shape, eos_token_id=1, pad_token_id=0))


def batches(model, count: int, batch: int, source: int, target: int):
    """`count` batches of random ids, as the project's collator for this family lays them out."""
    from transformers import DataCollatorForSeq2Seq

    from stages.training.causal import CausalCollator

    generator = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    rows = [[{"input_ids": torch.randint(3, vocab, (source,), generator=generator).tolist(),
              "labels": torch.randint(3, vocab, (target - 1,), generator=generator).tolist() + [1]}
             for _ in range(batch)] for _ in range(count)]
    if model.config.is_encoder_decoder:
        collate = DataCollatorForSeq2Seq(_Padder(), model=model, label_pad_token_id=-100)
        return [collate([{**r, "attention_mask": [1] * source} for r in chunk]) for chunk in rows]
    collate = CausalCollator(0)
    return [collate(chunk) for chunk in rows]


class _Padder:
    """What DataCollatorForSeq2Seq asks of a tokenizer, for rows that are all one length already."""
    pad_token_id = 0
    padding_side = "right"

    def pad(self, features, return_tensors="pt", **kwargs):
        return {key: torch.tensor([f[key] for f in features]) for key in features[0]}


def train_speed(model, data, method: str) -> dict:
    from stages.training import adapters, loop
    from stages.training import causal

    if method == "lora":
        model = adapters.add(model, SimpleNamespace(r=32, alpha=32, dropout=0.05, target_modules=adapters.T5_DEFAULT))
    causal_lm = not model.config.is_encoder_decoder
    loss_of = causal.token_mean_loss if causal_lm else loop.token_mean_loss
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    times, tokens = [], []
    for batch in data:
        started = time.perf_counter()
        labels = batch.pop("labels")
        outputs = model(**batch)
        loss = loss_of(outputs, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - started)
        # tokens through the model: the LLM's one sequence; T5's encoder plus decoder tokens
        tokens.append(int(batch["attention_mask"].sum()) + (0 if causal_lm else int(labels.ne(-100).sum())))
        batch["labels"] = labels
    measured = slice(1, None) if len(times) > 1 else slice(None)  # the first step warms allocations up
    seconds, count = sum(times[measured]), sum(tokens[measured])
    trainable, total = models.count_parameters(model)
    return {"train_tokens_per_s": round(count / seconds, 1),
            "train_s_per_step": round(seconds / len(times[measured]), 3), "trainable_params": trainable, "total_params": total, "steps_timed": len(times[measured])}


@torch.inference_mode()
def generate_speed(model, batch: int, source: int, new: int) -> dict:
    model = model.eval()
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, model.config.vocab_size, (batch, source), generator=generator)
    kwargs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                  do_sample=False, num_beams=1, pad_token_id=0, eos_token_id=1)
    if model.config.is_encoder_decoder:
        kwargs["decoder_start_token_id"] = 0
    started = time.perf_counter()
    model.generate(**kwargs)
    seconds = time.perf_counter() - started
    return {"generate_new_tokens_per_s": round(batch * new / seconds, 1), "generate_s": round(seconds, 3)}


def main(argv=None) -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--method", choices=("lora", "full"), default="lora")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps (the first is not timed)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--source", type=int, default=96, help="prompt tokens")
    parser.add_argument("--target", type=int, default=32, help="summary tokens, end token included")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens generated per row")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = ("tiny-qwen2", "tiny-t5") if args.quick else ("qwen2.5-0.5b", "flan-t5-base")
    steps = 2 if args.quick else args.steps
    record = {"benchmark": "llm", "started": common.now(), "load_average_start": common.load_average(),
              "machine": common.machine(), "settings": {**{k: v for k, v in vars(args).items() if k in
                                                            ("method", "batch", "source", "target", "new_tokens")},
                                                        "steps": steps, "threads": args.threads}, "runs": []}
    for name in names:
        model = build(name)
        row = {"shape": name, **train_speed(model, batches(model, steps, args.batch, args.source, args.target),
                                           args.method)}
        row.update(generate_speed(build(name), args.batch, args.source, args.new_tokens))
        record["runs"].append(row)
        print(row, flush=True)
        del model
    record["load_average_end"] = common.load_average()
    common.print_table(f"{args.method} training and greedy generation, batch {args.batch}, {args.source}+{args.target} "
                       f"tokens, {args.threads} threads", record["runs"],
                       ["shape", "total_params", "trainable_params", "train_tokens_per_s", "train_s_per_step",
                        "generate_new_tokens_per_s"])
    suffix = "_quick" if args.quick else ""
    common.write_result(args.out / f"llm_{record['machine']['device']}{suffix}.json", record)


if __name__ == "__main__":
    main()
