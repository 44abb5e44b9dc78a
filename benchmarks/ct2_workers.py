"""How to split a CPU's threads among CTranslate2 workers: int8 generation speed for every split of N threads
into workers x threads each (ct2.workers picks one), beside the torch engine on all N threads.

Same method as benchmarks/engines.py (flan-t5-base shape, random weights, real DialogSum test dialogues sorted
longest first, every summary forced to 48 tokens, batches of --batch-size), but each split runs in a process of
its own, so that no other split's idle thread pool competes for the cores.

    python benchmarks/ct2_workers.py --threads 16          # about 2 minutes on 16 cores
    python benchmarks/ct2_workers.py --quick               # tiny model: a smoke test
"""
import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import time

import common
from common import dialogsum, torch
from engines import cpu_record, pick_dialogues

from stages.inference import ct2, decode


def time_split(folder, inputs: list[list[str]], split: tuple[int, int], batch_size: int, new_tokens: int) -> float:
    """Dialogues per second of one split, in this process (run as a child: see main)."""
    translator = ct2.module().Translator(str(folder), device="cpu", compute_type="int8", inter_threads=split[0],
                                         intra_threads=split[1])
    options = dict(beam_size=1, max_decoding_length=new_tokens, min_decoding_length=new_tokens, max_input_length=0,
                   return_scores=False, end_token=["</s>"], max_batch_size=-(-batch_size // split[0]))
    translator.translate_batch(inputs[:2], **options)  # warm-up
    started = time.perf_counter()
    for start in range(0, len(inputs), batch_size):
        translator.translate_batch(inputs[start:start + batch_size], **options)
    return len(inputs) / (time.perf_counter() - started)


def main(argv=None) -> None:
    parser = common.argument_parser(__doc__)
    parser.set_defaults(threads=2)
    parser.add_argument("--limit", type=int, help="distinct test dialogues (default 64; 4 with --quick)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shape = args.shape or ("tiny" if args.quick else "flan-t5-base")
    new_tokens = 6 if args.quick else 48
    folder = args.cache / f"workers-{shape}"
    if args.child:  # one split, timed in a process of its own
        inputs = json.loads((folder / "inputs.json").read_text())
        print(json.dumps(time_split(folder / "int8", inputs, tuple(args.child), args.batch_size, new_tokens)))
        return

    torch.set_num_threads(args.threads)
    p = common.project_params()
    d = p.data
    tokenizer = common.tokenizer_for(args.data, 400 if args.quick else common.SHAPES[shape]["vocab_size"], args.cache)
    rows = pick_dialogues(common.load_rows(args.data)["test"], args.limit or (4 if args.quick else 64), d.seed)
    ids = sorted((list(i) for i in dialogsum.tokenize(rows, tokenizer, d.prompt, d.max_source_length,
                                                      d.max_target_length)["input_ids"]), key=lambda i: -len(i))
    model = common.make_model(shape)
    model.generation_config.min_new_tokens = new_tokens
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder / "hf")
    tokenizer.save_pretrained(folder / "hf")
    (folder / "inputs.json").write_text(json.dumps([tokenizer.convert_ids_to_tokens(i) for i in ids]))
    ct2.convert(model, tokenizer, ct2.generation_config(folder / "hf"), folder / "int8", "int8", folder / "hf")

    record = {"benchmark": "ct2_workers", "started": common.now(), "load_average_start": common.load_average(),
              "machine": {**common.machine(), "cpu_detail": cpu_record(), "ctranslate2": ct2.module().__version__},
              "settings": {"shape": shape, "dialogues": len(ids), "new_tokens": new_tokens,
                           "batch_size": args.batch_size, "threads": args.threads,
                           "chosen": list(ct2.workers(args.threads, args.batch_size))}, "runs": []}
    cfg = dataclasses.replace(p.generate, max_new_tokens=new_tokens, num_beams=1, batch_size=args.batch_size)
    for precision in ("fp32", "bf16"):
        loaded = decode.load(str(folder / "hf"), precision)
        decode.summarize(loaded, tokenizer, ids[:2], cfg, False)
        started = time.perf_counter()
        decode.summarize(loaded, tokenizer, ids, cfg, False)
        speed = len(ids) / (time.perf_counter() - started)
        record["runs"].append({"path": f"torch {precision}, {args.threads} thread{'s' if args.threads > 1 else ''}", "dialogues_per_s": round(speed, 2)})
        print(record["runs"][-1], flush=True)
        del loaded
    for count in [n for n in range(1, args.threads + 1) if args.threads % n == 0]:
        split = (count, args.threads // count)
        done = subprocess.run([sys.executable, __file__, "--child", *map(str, split), "--cache", str(args.cache),
                               "--batch-size", str(args.batch_size), "--shape", shape] + (["--quick"] if args.quick else []),
                              capture_output=True, text=True, check=True)
        speed = json.loads(done.stdout.strip().splitlines()[-1])
        record["runs"].append({"path": f"ctranslate2 int8, {split[0]} worker{'s' if split[0] > 1 else ''} x {split[1]} thread{'s' if split[1] > 1 else ''}",
                               "dialogues_per_s": round(speed, 2), "chosen": list(split) == record["settings"]["chosen"]})
        print(record["runs"][-1], flush=True)
    record["load_average_end"] = common.load_average()
    record["finished"] = common.now()
    common.print_table(f"int8 worker splits, {len(ids)} dialogues, {shape}, {args.threads} threads", record["runs"],
                       ["path", "dialogues_per_s"])
    common.write_result(args.out / f"ct2_workers_{args.threads}threads{'_quick' if args.quick else ''}.json", record)


if __name__ == "__main__":
    main()
