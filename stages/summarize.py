"""Summarize new dialogues with the pipeline's models, prompt and decoding params; export a merged LoRA model.

    python -m stages.summarize [--model base|full|lora|DIR] [FILE]      one dialogue from FILE or stdin
    python -m stages.summarize --jsonl IN.jsonl --out OUT.jsonl          rows {id, dialogue} -> {id, summary}
    python -m stages.summarize --adapter r2=DIR --adapter r4=DIR [...]  one base, several adapters in turn
    python -m stages.summarize export --adapter models/lora --out DIR   base + adapter merged, standalone

Run it from the project root: params.yaml gives data.prompt, data.max_source_length and generate.* (the engine,
torch or ctranslate2, included).
"""
import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .data import dialogue, prompts
from .inference import decode, specs
from .inference.engines import load_engine
from .modeling import identity, models, readme
from .io import params, files, text
from .io.errors import UserError, run
from .io.files import atomic_path, write_jsonl
from .io.jsonl import read_jsonl


def load(spec: str, precision: str):
    """base, full, lora (as the pipeline generates with them), or a directory: a full model or an adapter; the
    torch model, an adapter merged into its base."""
    return decode.load(spec, precision)


def tokenizers(specs_by_name: dict) -> dict:
    """{name: the tokenizer that model or adapter was trained with} (specs.tokenizer), each folder loaded once."""
    loaded, chosen = {}, {}
    for name, spec in specs_by_name.items():
        specs.kind(spec)
        folder = models.tokenizer_folder(specs.folder(spec)).resolve()
        if folder not in loaded:
            loaded[folder] = specs.tokenizer(spec)
        chosen[name] = loaded[folder]
    return chosen


def load_adapters(named: dict[str, Path], precision: str):
    """One base model carrying every adapter under its name; `model.set_adapter(name)` switches, unmerged."""
    model = models.load_model(models.BASE)
    for name, path in named.items():
        model = models.load_adapter(model, path, name)
    return decode.ready(model, precision)


def encode(tokenizer, dialogues: dict[str, str], cfg, strict: bool) -> list[list[int]]:
    """Prompt token ids, cut at data.max_source_length as in training; say what a long dialogue lost."""
    encoded = prompt_ids(tokenizer, dialogues, cfg)
    for key, over in zip(dialogues, encoded.over):
        if over > 0:
            message = cut_message(key, over, cfg)
            if strict:
                raise UserError(message + " Shorten it, or drop --strict to summarize the truncated text.")
            print(f"warning: {message}", file=sys.stderr)
    return encoded.input_ids


def prompt_ids(tokenizer, dialogues: dict, cfg) -> prompts.Encoded:
    """Each dialogue checked as prepare checks its data (stages/data/dialogue.py: text, no control characters,
    something visible, mostly tokens the model knows) and encoded as the pipeline does; the server uses it too."""
    for key, why in zip(dialogues, dialogue.problems(list(dialogues.values()), tokenizer)):
        if why:
            raise UserError(f"dialogue {key} {why}.")
    return prompts.encode(tokenizer, cfg.prompt, [text.strip() for text in dialogues.values()],
                          cfg.max_source_length)


def cut_message(key, over: int, cfg) -> str:
    return (f"dialogue {key} is {cfg.max_source_length + over} tokens with the prompt, {over} more "
            f"than data.max_source_length ({cfg.max_source_length}): the end of the dialogue is cut "
            "(the instruction around it is kept), as in training and the pipeline.")


@dataclass(frozen=True)
class RowId:
    """A --jsonl row's id as its JSON: 1, "1", true and 1.0 are four ids, and each is written back as it came."""
    json: str
    value: object = field(compare=False)

    def __str__(self) -> str:  # as messages name it: a text id as it is, any other as JSON
        return self.value if isinstance(self.value, str) else self.json


def row_id(value, where: str) -> RowId:
    """A row's id: text, a number, true/false or null; never an object or an array (what is it an id of?)."""
    if isinstance(value, (dict, list)):
        raise UserError(f"{where}: the id is a JSON {'object' if isinstance(value, dict) else 'array'}; give "
                        "each row an id that is text, a number, true, false or null.")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{where}: the id is {value}, which JSON cannot hold; give a finite number or text.")
    return RowId(json.dumps(value, ensure_ascii=False), value)


def read_dialogues(args) -> dict:
    """{id: dialogue}: the rows of --jsonl (ids as RowId), or one dialogue from a file or stdin."""
    if args.jsonl:
        rows = read_jsonl(args.jsonl)
        dialogues = {}
        for number, row in enumerate(rows, start=1):
            if "id" not in row or "dialogue" not in row:
                raise UserError(f"{args.jsonl}, row {number}: each row needs an id and a dialogue.")
            key = row_id(row["id"], f"{args.jsonl}, row {number}")
            if key in dialogues:
                raise UserError(f"{args.jsonl}, row {number}: duplicate id {key.json}; ids must be unique.")
            dialogues[key] = row["dialogue"]
        return dialogues
    if args.input in (None, "-"):
        if sys.stdin.isatty():
            print("reading a dialogue from stdin; end it with Ctrl-D", file=sys.stderr)
        stream = getattr(sys.stdin, "buffer", None)  # bytes, so binary input is told apart from text
        raw = stream.read(MOST + 1) if stream is not None else sys.stdin.read(MOST + 1).encode("utf-8")
        return {"from stdin": text_of(raw, "stdin")}
    path = Path(args.input)
    if not path.is_file():
        raise UserError(f"{path} is not a file: give a text file holding one dialogue, or pipe it on stdin.")
    with path.open("rb") as stream:
        return {str(path): text_of(stream.read(MOST + 1), str(path))}


MOST = 4 * dialogue.MAX_CHARS  # bytes: UTF-8 takes at most 4 a character, so more is past the dialogue check


def text_of(raw: bytes, where: str) -> str:
    """A dialogue's bytes as text: UTF-8 (a BOM allowed), never binary data, never more than read_dialogues
    reads (MOST bytes: the rest was left unread)."""
    if len(raw) > MOST:
        raise UserError(f"dialogue {where} is over {dialogue.MAX_CHARS:,} characters, more than a dialogue may be: "
                        "the model reads only its first data.max_source_length tokens (a few thousand characters); "
                        "cut it to what it should read.")
    if b"\0" in raw:
        raise UserError(f"{where} holds binary data (NUL bytes), not a dialogue: give a UTF-8 text file.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise UserError(f"{where}, line {line}: not valid UTF-8 ({error.reason}); give the dialogue as UTF-8 "
                        "text (re-encode it, e.g. with iconv -t UTF-8).") from None


def adapter_pairs(values: list[str]) -> dict[str, Path]:
    """{name: folder} from --adapter NAME=DIR values; a name peft could not load an adapter under is refused
    here, before it is blamed on the base model."""
    import re

    import torch

    named = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--adapter {value}: write NAME=DIR, for example --adapter r8=models/lora.")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
            raise UserError(f"--adapter {value}: the name {name!r} is not one an adapter can have: use letters, "
                            "digits, '_' or '-' (up to 64, starting with a letter or digit; torch refuses a '.'), "
                            "for example --adapter r8=models/lora.")
        if any(hasattr(table(), name) for table in (torch.nn.ModuleDict, torch.nn.ParameterDict)):
            # peft keeps each adapter's weights in torch tables under its name: torch's own names are taken
            raise UserError(f"--adapter {value}: the name {name} is one torch's module tables use themselves, so "
                            "peft cannot keep an adapter under it: choose another, such as r8.")
        if name in named:
            raise UserError(f"--adapter {value}: the name {name} is given twice.")
        named[name] = Path(path)
    return named


def summarize(args) -> None:
    p = params.load()
    if args.out:
        files.target(args.out, "--out", args.force)
    if args.adapter and args.model is not None:
        raise UserError(f"--model {args.model} and --adapter go separately: every --adapter loads onto models/base, "
                        "the base model it was trained on. Drop --model, or drop --adapter to summarize with "
                        f"--model {args.model} alone.")
    args.model = args.model or "lora"
    chosen = adapter_pairs(args.adapter) if args.adapter else {None: args.model}
    tokenizer = tokenizers(chosen)  # each model's own, found before any dialogue is read
    dialogues = read_dialogues(args)
    ids = [getattr(key, "value", key) for key in dialogues]  # a --jsonl id keeps its JSON type
    inputs = {}
    for name, own in tokenizer.items():
        same = next((other for other in inputs if tokenizer[other] is own), None)
        inputs[name] = inputs[same] if same is not None else encode(own, dialogues, p.data, args.strict)
    progress = args.jsonl is not None
    if args.adapter and p.generate.engine == "torch":
        model = load_adapters(chosen, models.resolve_precision(p.generate.precision))
        rows = []
        for name in model.peft_config:
            model.set_adapter(name)  # the base weights stay put; only the active LoRA pair changes
            rows += [{"id": key, "adapter": name, "summary": text}
                     for key, text in zip(ids, decode.summarize(model, tokenizer[name], inputs[name], p.generate,
                                                                  progress))]
    elif args.adapter:  # another engine: each adapter merged into the base, converted once and cached
        rows = []
        for name, path in chosen.items():
            summaries = load_engine(path, p).summarize(inputs[name], progress)
            rows += [{"id": key, "adapter": name, "summary": text} for key, text in zip(ids, summaries)]
    else:
        summaries = load_engine(args.model, p).summarize(inputs[None], progress)
        rows = [{"id": key, "summary": text} for key, text in zip(ids, summaries)]

    if args.out:
        files.target(args.out, "--out", args.force)  # again: a file may have appeared there while this ran
        write_jsonl(args.out, rows)
        files.sign(args.out, "python -m stages.summarize")
    elif args.jsonl:  # what a model writes reaches a terminal as text (stages/io/text.py)
        sys.stdout.write("".join(text.json_line(row) + "\n" for row in rows))
    else:
        for row in rows:
            summary = text.terminal(row["summary"])
            print(f"[{row['adapter']}] {summary}" if "adapter" in row else summary)


def export(args) -> None:
    """Fold the adapter into the base weights: a standalone model that loads without peft."""
    files.target(args.out, "--out", args.force, "folder")
    tokenizer = specs.tokenizer(args.adapter)  # the adapter's own (its base's where proven)
    model = models.load_merged(args.adapter)
    with atomic_path(args.out) as tmp:
        model.save_pretrained(tmp)  # safetensors
        tokenizer.save_pretrained(tmp)
        readme.write(tmp, "merged", identity.recorded(args.adapter), str(args.adapter))  # what it is, from what
        files.mark(tmp, "python -m stages.summarize export", adapter=str(args.adapter))
        files.target(args.out, "--out", args.force, "folder")  # again, right before it is replaced: files may have
        # been put there while the model merged and saved
    print(f"wrote {args.out}: base model with {args.adapter} merged in")



def parser(command: str) -> argparse.ArgumentParser:
    if command == "export":
        p = argparse.ArgumentParser(prog="python -m stages.summarize export", description=export.__doc__)
        p.add_argument("--adapter", type=Path, default=models.LORA, help="adapter directory (default models/lora)")
        p.add_argument("--out", type=Path, required=True, help="directory to write the merged model to")
        p.add_argument("--force", action="store_true",
                       help="replace --out even if this command did not write it (never a pipeline output, nor what "
                            "a git repository holds)")
        return p
    p = argparse.ArgumentParser(prog="python -m stages.summarize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", help="text file holding one dialogue; - or nothing reads stdin")
    p.add_argument("--model", help="base, full, lora or a model/adapter directory (default lora); not with --adapter")
    p.add_argument("--adapter", action="append", metavar="NAME=DIR",
                   help="load this adapter onto the one base model (instead of --model); repeat to compare adapters")
    p.add_argument("--jsonl", type=Path, help="batch mode: a JSONL file of {id, dialogue} rows")
    p.add_argument("--out", type=Path, help="write JSONL rows {id, summary} here instead of stdout")
    p.add_argument("--force", action="store_true", help="replace --out even if this command did not write it")
    p.add_argument("--strict", action="store_true",
                   help="stop on a dialogue longer than data.max_source_length instead of truncating it")
    return p


def main(argv: list[str]) -> None:
    if argv[:1] == ["export"]:
        export(parser("export").parse_args(argv[1:]))
    else:
        summarize(parser("summarize").parse_args(argv))


if __name__ == "__main__":
    run(main, sys.argv[1:])
