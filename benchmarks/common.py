"""Shared by the benchmarks: model shapes, a DialogSum-trained tokenizer, data, the machine's record, results."""
import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the project's own code paths: stages/

import torch  # noqa: E402
import transformers  # noqa: E402

from stages.data import dialogsum  # noqa: E402
from stages.modeling import models  # noqa: E402
from stages.io import params  # noqa: E402
from stages.io.files import write_json  # noqa: E402

# The real corpus beside the project (../shared/data/dialogsum), found from a worktree nested deeper too.
DATA = next((p / "shared/data/dialogsum" for p in ROOT.parents if (p / "shared/data/dialogsum").is_dir()),
            ROOT.parent / "shared/data/dialogsum")
CACHE = ROOT / "benchmarks" / ".cache"  # git-ignored: the trained tokenizer
RESULTS = ROOT / "benchmarks" / "results"

# Random-weight models of the real shapes: speed does not depend on weight values.
SHAPES = {
    "flan-t5-small": dict(vocab_size=32128, d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_decoder_layers=8,
                          num_heads=6),
    "flan-t5-base": dict(vocab_size=32128, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12,
                         num_heads=12),
    "tiny": dict(vocab_size=512, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4),
}


def default_shape(quick: bool) -> str:
    if quick:
        return "tiny"
    return "flan-t5-base" if torch.cuda.is_available() else "flan-t5-small"


def project_params():
    """params.yaml of this checkout: the settings the stages run with by default."""
    return params.load(ROOT / "params.yaml")


def make_model(shape: str):
    from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration

    config = T5Config(**SHAPES[shape], feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(config)
    model.generation_config = GenerationConfig(decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    return model


def load_rows(folder: Path) -> dict[str, list[dict]]:
    from stages.data import loading
    from stages.data.layout import Layout

    return loading.load(str(folder), "main", Layout(), seed=42)[0]  # DialogSum's layout; validated there


def tokenizer_for(folder: Path, vocab_size: int, cache: Path = CACHE):
    """A Unigram + Metaspace tokenizer trained on the corpus's train split (T5's kind), cached by corpus and size."""
    from transformers import PreTrainedTokenizerFast

    train = Path(folder) / "train.jsonl"
    key = hashlib.sha256(train.read_bytes() + str(vocab_size).encode()).hexdigest()[:16]
    where = Path(cache) / f"tokenizer-{key}"
    if not (where / "tokenizer.json").is_file():
        _train_tokenizer(train, vocab_size, where)
    return PreTrainedTokenizerFast.from_pretrained(str(where))


def _train_tokenizer(train: Path, vocab_size: int, where: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from stages.io.files import atomic_path
    from stages.io.jsonl import read_jsonl

    texts = ["Summarize the following conversation. Summary:"]
    for row in read_jsonl(train):
        texts += [row["dialogue"], row["summary"]]
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    print(f"training a {vocab_size}-token tokenizer on {train} (cached in {where})", file=sys.stderr)
    tok.train_from_iterator(texts, trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>", model_max_length=512)
    with atomic_path(where) as tmp:
        tokenizer.save_pretrained(tmp)


def machine() -> dict:
    """What the figures were measured on; the load average matters because other work shares the CPU."""
    cuda = torch.cuda.is_available()
    return {
        "device": models.device().type,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": _version("peft"),
        "tokenizers": _version("tokenizers"),
    }


def _version(name):
    from importlib.metadata import version

    return version(name)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_result(path: Path, record: dict) -> None:
    write_json(path, record)
    print(f"wrote {path}")


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    """A Markdown table on stdout, the same one the README shows."""
    print(f"\n{title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def dumps(obj) -> str:
    return json.dumps(obj)


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark takes; each program adds its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model and data: checks that everything runs")
    parser.add_argument("--data", type=Path, default=DATA, help="folder with DialogSum's JSONL files")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the trained tokenizer is kept")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--shape", choices=sorted(SHAPES), help="default: flan-t5-small on CPU, -base on GPU")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch CPU threads (1 is faster on a CPU that other work shares)")
    return parser
