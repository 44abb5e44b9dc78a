"""params.yaml, validated into typed objects: a bad key stops a stage before any heavy work.

Each section is a frozen pydantic dataclass: every key required and known, types strict (true is no integer, "16"
no number), numbers finite. A new param is one line in its section, e.g.
`warmup_steps: int = Field(ge=0, le=10_000_000, description="...")` (a float: `Number`, not float, so that 1e-3,
a string to YAML 1.1, counts); docs/params.md is generated from these fields (`python -m stages.params_doc`).
A rule across keys goes in the section's __post_init__ as a `Rule`. Every failure is one ParamsError naming the key.
"""
import reprlib
import string
import types
import typing
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema
from pydantic.dataclasses import dataclass

from .errors import ParamsError, UserError
from .text import terminal

PRECISIONS = ("auto", "bf16", "fp32")
ENGINES = ("torch", "ctranslate2")  # stages/inference/engines.py
# CTranslate2's compute types (auto: int8 on a CPU, bfloat16 or float32 on a GPU: stages/inference/ct2.py)
COMPUTE_TYPES = ("auto", "int8", "float32", "int8_float32", "float16", "bfloat16", "int8_float16", "int8_bfloat16")
ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")  # as stages/scoring/rouge.py scores them
SELECT_METRICS = ("eval_loss", *ROUGE_KEYS, "last")  # what picks the saved model (stages/training/selection.py)
MAX_SEED = 2**32 - 1  # numpy's limit: set_seed() fails deep inside the Trainer beyond it
MAX_BYTES = 1 << 20  # of params.yaml: its keys and a prompt fit in a few KB

# Why a key's ceiling (its le=) is where it is, by key name in any section: each stops a typo (an extra zero, 1e9)
# from diverging or running for hours before anyone notices; beyond it the message says so.
CEILINGS = {
    "learning_rate": "Adam moves each weight by about the learning rate per step; T5 fine-tunes use 1e-5 (full) to "
                     "1e-2 (LoRA), and beyond 1 every step rewrites the weights",
    "epochs": "DialogSum fine-tunes converge within a few epochs",
    "max_steps": "ten million optimizer steps is months on one GPU",
    "batch_size": "more examples than fit in any GPU's memory at once",
    "eval_batch_size": "more examples than fit in any GPU's memory at once",
    "gradient_accumulation_steps": "an effective batch beyond a million examples is the whole corpus many times",
    "logging_steps": "as max_steps",
    "eval_steps": "as max_steps",
    "save_steps": "as max_steps",
    "dataloader_workers": "more worker processes than cores only adds memory",
    "pad_to_multiple_of": "tensor cores want multiples of 8 to 64",
    "max_source_length": "flan-t5 was trained on 512 input tokens; DialogSum dialogues fit in 1024",
    "max_target_length": "DialogSum summaries are under 200 tokens",
    "max_new_tokens": "DialogSum summaries are under 200 tokens; a runaway limit costs minutes per batch",
    "num_beams": "summarization uses 1 to 8 beams; each beam multiplies decoding time and memory",
    "r": "the rank of a LoRA update beyond flan-t5-base's 768-wide layers adds nothing",
    "alpha": "scaling alpha/r beyond a few dozen is a learning rate typo",
    "resamples": "intervals are stable to 3 digits at 10,000; a million already takes minutes",
}
STEPS = 10_000_000  # the ceiling of every step count


class Rule(ValueError):
    """A rule across keys of a section, broken: `field` is the key the message names."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _number(value):
    """YAML 1.1 reads 1e-3 (no dot) as a string: take it as the number the user meant."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1e308:
        raise ValueError(f"must be a finite number, got {_shown(value)}.")  # float() would overflow
    return value


def _nonempty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty.")
    if terminal(value) != value:  # an id, path, revision or column: ESC or a newline in one is a paste gone wrong
        raise ValueError(f"holds a control or direction-changing character, which no name, path or revision has "
                         f"(shown escaped: {_shown(value)}); delete it.")
    return value


def _no_fp16(value):
    if value == "fp16":
        raise ValueError("fp16 is not offered: T5 overflows to NaN in fp16; use bf16 or fp32.")
    return value


def _one_dialogue(prompt: str) -> str:
    fields = _prompt_fields(prompt)
    if fields != ["dialogue"]:
        raise ValueError("the template must contain {dialogue} exactly once and no other {field} "
                         f"(found {fields or 'none'}); write literal braces as {{{{ and }}}}.")
    return prompt


def _modules(value):
    if isinstance(value, str) and value != "all-linear":
        raise ValueError(f"the one name allowed instead of a list is all-linear, got {_shown(value)}; or give a list "
                         "such as [q, v].")
    if not (value and all(value)):
        raise ValueError("give a non-empty list of module names, such as [q, v].")
    return value


Number = Annotated[float, BeforeValidator(_number)]
Name = Annotated[str, AfterValidator(_nonempty), WithJsonSchema({"type": "string", "minLength": 1})]
Precision = Annotated[Literal[PRECISIONS], BeforeValidator(_no_fp16)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
section = dataclass(frozen=True, kw_only=True, config=ConfigDict(extra="forbid", strict=True, allow_inf_nan=False))


def _on_off(value):
    """YAML 1.1 reads an unquoted on/off (and yes/no) as true/false: take them as the words the user wrote."""
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


@section
class ModelParams:
    """The base model every stage starts from."""
    name: Name = Field(description="a Hub id or a local directory (config + safetensors + tokenizer)")
    revision: Name = Field(description="Hub commit; for a local directory, sha256:... of its files (prepare prints "
                                       "it, then checks it), so DVC reruns when they change")
    chat_template: Annotated[Literal["auto", "on", "off"], BeforeValidator(_on_off)] = Field(
        description="a causal LM's prompts through its tokenizer's chat template: auto = where it has one, on = it "
                    "must, off = never; flan-t5 has none (docs/models.md)")


def _turn_template(template: str) -> str:
    """A turn's template names the fields of each turn: {speaker}, {text}; no positional or nested field."""
    fields = _prompt_fields(template)
    bad = [field for field in fields if not field.isidentifier()]
    if not fields or bad:
        raise ValueError(f"a turn's template names each turn's fields, such as '{{speaker}}: {{text}}' or "
                         f"'{{role}}: {{content}}' (found {', '.join(map(repr, bad)) if bad else 'none'}); write "
                         "literal braces as {{ and }}.")
    return template


def _license(value: str) -> str:
    if not all(char.isalnum() or char in ".-+" for char in value) or not value[:1].isalnum():
        raise ValueError(f"an SPDX licence id such as cc-by-nc-sa-4.0, mit or apache-2.0, or other; got "
                         f"{_shown(value)}.")
    return value


def _references(value):
    if isinstance(value, list) and not value:
        raise ValueError("give the summary column, or a non-empty list of them (one per reference).")
    return value


def _size(value):
    if value >= 1 and value != int(value):
        raise ValueError(f"a share of train's dialogues below 1 (0.1) or a count of them (200), got {_shown(value)}.")
    return value


@section
class SplitsParams:
    """Which split of a Hub dataset, or which file of a folder (`chats.csv`, or `chats` for the one data file so
    named), holds each split (docs/data.md)."""
    train: Name = Field(description="the dialogues trained on")
    validation: Name | None = Field(description="null = carved from train (data.validation_size, data.seed)")
    test: Name | None = Field(description="the dialogues scored; null is refused, saying how to set them aside (a "
                                          "test split is never carved)")

    def __post_init__(self):
        if self.test is None:
            raise Rule("test", "a test split is needed and is never carved: set a share of your dialogues, chosen at "
                               "random, aside in a file of their own (test.jsonl) and name it here.")


@section
class ColumnsParams:
    """Which of the source's columns holds what (docs/data.md)."""
    id: Name | None = Field(description="each dialogue's id (text or integers); rows sharing one are one dialogue's "
                                        "references; null = ids made from the dialogue text")
    dialogue: Name = Field(description="text, one turn per line, or a list of turns (data.turns)")
    summary: Annotated[Name | list[Name], AfterValidator(_references)] = Field(
        description="the reference summary: a column of text or of lists of texts, or a list of columns, one per "
                    "reference")
    topic: Name | None = Field(description="optional text; null = none")


@section
class DataParams:
    """The corpus and how each dialogue becomes a model input."""
    source: Name = Field(description="a Hub id or a directory with train/validation/test .jsonl")
    revision: Name = Field(description="Hub revision; pin a commit sha for exact reproducibility (a local "
                                       "directory: sha256:... of its split files, as model.revision)")
    prompt: Annotated[str, AfterValidator(_one_dialogue)] = Field(
        description="the template each dialogue is put in: {dialogue} exactly once and no other {field}; write "
                    "literal braces as {{ and }}")
    max_source_length: int = Field(gt=0, le=4096, description="tokens; longer dialogues are truncated")
    max_target_length: int = Field(gt=0, le=1024, description="tokens of a reference summary")
    max_train_samples: int | None = Field(gt=0, description="null = all; counted in distinct dialogues")
    max_validation_samples: int | None = Field(gt=0, description="null = all")
    max_test_samples: int | None = Field(gt=0, description="null = all; a test dialogue keeps all its references")
    seed: Seed = Field(description="which dialogues a subsample picks, and a carved validation split")
    config: Name | None = Field(description="a Hub dataset's configuration; null = its default")
    splits: SplitsParams = Field(description="the source's split or file of train, validation and test")
    validation_size: Annotated[Number, AfterValidator(_size)] = Field(
        gt=0, le=1_000_000, description="carved from train when splits.validation is null: a share "
                                                      "below 1, or a count of dialogues")
    columns: ColumnsParams = Field(description="the source's column of id, dialogue, summary and topic")
    turns: Annotated[str, AfterValidator(_turn_template)] = Field(
        description="how a dialogue given as a list of turns is written, one turn per "
                                                 "line; its fields are each turn's keys")
    name: Name | None = Field(description="the data's name on the model card; null = a Hub "
                                                        "dataset's card's")
    license: Annotated[Name, AfterValidator(_license)] | None = Field(
        description="the data's licence (an SPDX id, or other), the model card's licence; null = a "
                                  "Hub dataset's card's")


@section
class TrainParams:
    """One training stage (train_full fine-tunes every weight, train_lora an adapter); both take the same keys."""
    learning_rate: Number = Field(gt=0, le=1, description="peak learning rate of AdamW")
    epochs: Number = Field(le=100, description="passes over the training set; > 0 unless max_steps > 0")
    max_steps: int = Field(le=STEPS, description="> 0 overrides epochs (smoke runs)")
    batch_size: int = Field(gt=0, le=4096, description="effective batch = batch_size x gradient_accumulation_steps, "
                                                       "on any number of devices; also caps the per-device "
                                                       "micro-batch (stages/training/loop.py)")
    eval_batch_size: int = Field(gt=0, le=4096, description="examples per evaluation batch")
    gradient_accumulation_steps: int = Field(gt=0, le=1024, description="micro-batches per optimizer step")
    warmup_ratio: Number = Field(ge=0, lt=1, description="share of the steps the learning rate warms up over")
    weight_decay: Number = Field(ge=0, le=1, description="AdamW's decoupled weight decay")
    logging_steps: int = Field(gt=0, le=STEPS, description="steps between logged losses")
    eval_steps: int = Field(ge=0, le=STEPS, description="steps between evaluations; 0 = at the end only")
    save_steps: int = Field(ge=0, le=STEPS, description="steps between checkpoints for resuming an interrupted run; "
                                                        "0 = none")
    seed: Seed = Field(description="of the initialization, shuffling and dropout")
    precision: Precision = Field(description="auto = bf16 where native (GPU >= 8.0, CPU avx512_bf16/amx_bf16), else "
                                             "fp32; never fp16 (T5 overflows to NaN)")
    group_by_length: bool = Field(description="batches of similar length waste less padding")
    pad_to_multiple_of: int | None = Field(gt=0, le=512, description="tensor-core friendly dynamic padding; null = "
                                                                     "exact")
    dataloader_workers: int = Field(ge=0, le=64, description="worker processes loading batches; 0 = the main one")
    rouge_samples: int | None = Field(ge=0, description="validation dialogues summarized and ROUGE-scored at each "
                                                        "evaluation (seeded subset, generate.* decoding); null = "
                                                        "all, 0 = loss only")
    select_metric: Literal[SELECT_METRICS] = Field(description="what picks the saved model: the best eval_loss or "
                                                               "ROUGE variant (which needs rouge_samples above 0), "
                                                               "or the last")
    early_stopping_patience: int = Field(ge=0, description="evaluations without improvement before stopping; 0 = "
                                                           "off (else it needs eval_steps > 0 and a select_metric "
                                                           "other than last)")
    early_stopping_min_delta: Number = Field(ge=0, description="smallest change of select_metric that counts as an "
                                                               "improvement")
    gradient_checkpointing: bool = Field(description="recompute activations in the backward pass: about 30-37% "
                                                     "less memory, slower steps")

    def __post_init__(self):
        if self.max_steps <= 0 and not self.epochs > 0:
            raise Rule("epochs", f"must be > 0 while max_steps <= 0 (a max_steps > 0 overrides epochs), got "
                                 f"{self.epochs!r}.")
        if self.select_metric in ROUGE_KEYS and self.rouge_samples == 0:
            raise Rule("select_metric", f"{self.select_metric} needs validation ROUGE: set rouge_samples above 0 "
                                        "(or null), or select on eval_loss.")
        if self.early_stopping_patience and self.select_metric == "last":
            raise Rule("early_stopping_patience", "early stopping watches select_metric, which is last: set "
                                                  "select_metric to eval_loss or a ROUGE variant, or patience to 0.")
        if self.early_stopping_patience and self.eval_steps == 0:
            raise Rule("early_stopping_patience", "needs evaluations during training: set eval_steps above 0, or "
                                                  "patience to 0.")


@section
class LoraParams:
    """The LoRA adapter train_lora trains, and its variants (stages/training/adapters.py)."""
    r: int = Field(gt=0, le=1024, description="rank of the update")
    alpha: int = Field(gt=0, le=4096, description="the update is scaled by alpha / r")
    dropout: Number = Field(ge=0, lt=1, description="dropout on the adapter's input")
    target_modules: Annotated[list[str] | str, AfterValidator(_modules)] = Field(
        description="linear layer names, or all-linear (every linear layer but the output head)")
    use_dora: bool = Field(description="DoRA: weight-decomposed LoRA (magnitude vector + LoRA direction)")
    use_rslora: bool = Field(description="rsLoRA: scale alpha / sqrt(r) instead of alpha / r (stable at high r)")
    loraplus_lr_ratio: Number | None = Field(ge=1, le=1000, description="LoRA+: B matrices get learning_rate x this "
                                                                        "(the paper suggests 16); null = off")
    quantize: Literal["4bit", "8bit"] | None = Field(description="QLoRA: the frozen base loaded in 4 or 8 bits by "
                                                                  "bitsandbytes (a CUDA GPU and `pip install "
                                                                  "bitsandbytes`); null = off")


@section
class GenerateParams:
    """How the generate stages and validation during training write summaries."""
    split: Literal["validation", "test"] = Field(description="the split summarized")
    max_new_tokens: int = Field(gt=0, le=1024, description="the longest summary; without it generate() stops at 20")
    num_beams: int = Field(gt=0, le=32, description="1 = greedy")
    early_stopping: bool | None = Field(description="beam search: true stops once num_beams summaries have ended; "
                                                    "null = the model's generation config (transformers' default, "
                                                    "false, which ctranslate2 refuses with beams)")
    batch_size: int = Field(gt=0, le=4096, description="dialogues per batch")
    precision: Precision = Field(description="the torch engine's, also what validation summaries during training "
                                             "decode in, so the checkpoint is chosen on the decoding reported")
    engine: Literal[ENGINES] = Field(description="torch (transformers' generate) or ctranslate2 (converted once into "
                                                 "models/.engines; same decoding or a refusal)")
    compute_type: Literal[COMPUTE_TYPES] = Field(description="the ctranslate2 engine's: auto = int8 on a CPU, bfloat16 "
                                                             "on a GPU that has it, else float32; a type the device "
                                                             "lacks is refused")

    def __post_init__(self):
        if self.engine == "ctranslate2" and self.num_beams > 1 and self.early_stopping is False:
            # null is checked against the model's generation config when the engine loads (stages/inference/ct2.py)
            raise Rule("early_stopping", "cannot be false for ctranslate2 with beams: transformers' stopping "
                                         "heuristic has no CTranslate2 equivalent, so the summaries would differ from "
                                         "torch's; set it to true (both engines stop once num_beams summaries have "
                                         "ended), num_beams to 1, or engine to torch.")


@section
class EvaluateParams:
    """The statistics of stages/evaluate.py."""
    resamples: int = Field(ge=100, le=1_000_000, description="bootstrap resamples of dialogues (intervals) and sign "
                                                             "flips (p-values); 1000 or more for stable intervals")
    seed: Seed = Field(description="of the resampling")
    confidence: Number = Field(ge=0.5, lt=1, description="of the bootstrap intervals")


@section
class SweepParams:
    """How `python -m stages.raysweep` runs a sweep on a Ray cluster (no stage reads these; --gpus-per-run,
    --cpus-per-run and --retries override them for one sweep)."""
    gpus_per_run: Number = Field(ge=0, le=64, description="GPUs each run holds (Ray sets its CUDA_VISIBLE_DEVICES); "
                                                          "0 on CPU machines, a fraction shares a GPU")
    cpus_per_run: Number = Field(ge=0, le=1024, description="CPUs each run holds; above 0 where gpus_per_run is 0")
    retries: int = Field(ge=0, le=20, description="attempts after a run's worker or machine dies; a run that fails is "
                                                  "not retried")

    def __post_init__(self):
        if self.gpus_per_run == 0 and self.cpus_per_run == 0:
            raise Rule("cpus_per_run", "must be above 0 where gpus_per_run is 0: a run that asks for nothing would "
                                       "all start at once on one machine.")


@section
class Params:
    model: ModelParams
    data: DataParams
    train_full: TrainParams
    train_lora: TrainParams
    lora: LoraParams
    generate: GenerateParams
    evaluate: EvaluateParams
    sweep: SweepParams


def load(path="params.yaml") -> Params:
    """Read and validate params.yaml; every key must be known and every value sane."""
    return parse(read(path))


def read_section(name: str, path="params.yaml", **overrides):
    """One section of params.yaml validated alone, `overrides` (a command's options) in place of its keys: for a
    command that reads only its own section (stages.raysweep, which also runs in projects of other stages)."""
    raw = read(path)
    if name not in raw:
        raise ParamsError(name, "missing; every key must be set in params.yaml (null where allowed).")
    values = raw[name] | overrides if isinstance(raw[name], dict) else raw[name]
    return _validated(Params.__pydantic_fields__[name].annotation, values, name)


def parse(raw) -> Params:
    """params.yaml's values (as read() returns them) validated, or one ParamsError naming the first bad key."""
    return _validated(Params, raw)


def _validated(cls, raw, prefix=""):
    """cls built from a mapping of YAML values, its sections first (strict: a section must be one already)."""
    if not isinstance(raw, dict):
        raise ParamsError(prefix or "(top level)", f"expected a mapping of keys, got {_shown(raw)}.")
    fields, values = cls.__pydantic_fields__, {}
    for key, value in raw.items():
        if key not in fields:  # by hand: pydantic would take some names (`__dataclass_self__`) for its own
            name = key if len(str(key)) <= _SHORT.maxstring else _shown(key)  # a 100 KB key, cut short
            raise ParamsError(_join(prefix, name), f"unknown key; known keys here are: {', '.join(fields)}.")
        kind = fields[key].annotation
        values[key] = _validated(kind, value, _join(prefix, key)) if hasattr(kind, "__pydantic_fields__") else value
    try:
        return cls(**values)
    except ValidationError as error:
        raise _explained(error.errors()[0], fields, raw, prefix) from None


def _explained(error: dict, fields: dict, values: dict, prefix: str) -> ParamsError:
    """pydantic's first error as one paragraph naming the key."""
    kind, loc = error["type"], error["loc"]
    problem = error.get("ctx", {}).get("error")
    if isinstance(problem, Rule):
        return ParamsError(_join(prefix, problem.field), str(problem))
    name = loc[0]
    key = _join(prefix, name)
    if kind == "missing":
        return ParamsError(key, "missing; every key must be set in params.yaml (null where allowed).")
    value, field = values[name], fields[name]
    if problem is not None:
        return ParamsError(key, str(problem))
    if kind == "finite_number":
        return ParamsError(key, f"must be a finite number, got {_shown(value)}.")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return ParamsError(key, _out_of_bounds(name, bounds(field), value, above=kind.startswith("less")))
    if kind == "literal_error" and isinstance(value, str):
        return ParamsError(key, f"must be one of {', '.join(_choices(field.annotation))}, got {_shown(value)}.")
    return ParamsError(key, f"expected {_expected(field.annotation)}, got {_shown(value)}.")


def _choices(kind) -> list[str]:
    """The words a Literal allows, with null where it is optional (Literal["4bit", "8bit"] | None)."""
    if typing.get_origin(kind) is Literal:
        return [str(arg) for arg in typing.get_args(kind)]
    return [word for arg in typing.get_args(kind) for word in (["null"] if arg is type(None) else _choices(arg))]


def bounds(field) -> dict:
    """A field's bounds: {'gt': 0, 'le': 4096} and the like."""
    return {k: getattr(m, k) for m in field.metadata for k in ("gt", "ge", "lt", "le") if hasattr(m, k)}


def _out_of_bounds(name: str, limits: dict, value, above: bool) -> str:
    bound, ceiling = rules(name, limits)
    if above and ceiling:
        return (f"{_shown(value)} is beyond the ceiling of {ceiling.split(' ', 1)[1]} ({CEILINGS[name]}); this is "
                "most likely a typo.")
    return f"must be {bound}, got {_shown(value)}."


def rules(name: str, limits: dict) -> tuple[str | None, str | None]:
    """A key's bounds in words, ('> 0', '<= 4,096') or ('in [0, 1)', None): an upper bound with a reason in
    CEILINGS is a ceiling, a guard against typos written apart from the range of sane values."""
    low, high = limits.get("gt", limits.get("ge")), limits.get("lt", limits.get("le"))
    lower = None if low is None else f"{'>' if 'gt' in limits else '>='} {number_text(low)}"
    upper = None if high is None else f"{'<' if 'lt' in limits else '<='} {number_text(high)}"
    if upper and name in CEILINGS:
        return lower, upper
    if lower and upper:
        return (f"in {'(' if 'gt' in limits else '['}{number_text(low)}, {number_text(high)}"
                f"{')' if 'lt' in limits else ']'}"), None
    return lower or upper, None


def number_text(number) -> str:
    """4,096 and 1e-05 rather than 4096 and 1e-05: digits a reader can count."""
    return f"{number:,}" if isinstance(number, int) else f"{number:g}"


def _expected(kind) -> str:
    """What a type accepts, in words: 'an integer or null'."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Annotated:
        return _expected(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_expected(arg) for arg in args)
    if origin is list:
        return f"a list of {_expected(args[0])[2:]}s"
    if origin is Literal:
        return "a string"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}[kind]


def _shown(value) -> str:
    """A value as the message quotes it, cut short: YAML's aliases can make a list of a billion items."""
    return _SHORT.repr(value)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxlong = 2, 6, 6, 80, 40


def _join(prefix, key):
    return f"{prefix}.{key}" if prefix else str(key)


def _prompt_fields(prompt: str) -> list[str]:
    """Each {field} of the template as written, with any !conversion or :format (only a plain {dialogue}
    passes); a lone { or } is a field that can never be filled."""
    try:
        parsed = list(string.Formatter().parse(prompt))
    except ValueError as error:  # "Single '{' encountered in format string"
        return [f"unbalanced brace ({error})"]
    return [name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            for _, name, spec, conversion in parsed if name is not None]


def _unique_keys(node, prefix="", seen_nodes=None) -> None:
    """Refuse a key given twice in one mapping: YAML loaders keep the last silently, so `r: 32` above `r: 4`
    would train with 4 while the file seems to say 32."""
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:  # an alias, checked at its anchor: `&x [*x]` holds itself, `[*a, *a]` doubles
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may repeat
                continue
            key = _join(prefix, key_node.value) if isinstance(key_node, yaml.ScalarNode) else prefix
            line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode) and (key_node.tag, key_node.value) in seen:
                raise ParamsError(key, f"given twice in one section, at lines {seen[key_node.tag, key_node.value]} "
                                       f"and {line}; YAML would silently keep the last. Delete the one you do not "
                                       "mean.")
            if isinstance(key_node, yaml.ScalarNode):  # a list or mapping as a key (`? [a, b]`) is no name
                seen[key_node.tag, key_node.value] = line
            _unique_keys(value_node, key, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _unique_keys(item, f"{prefix}[{index}]", seen_nodes)


def read(path="params.yaml") -> dict:
    """params.yaml as plain YAML values, before validation: UTF-8, valid YAML, no key given twice."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise UserError(f"{path} is not a file (a folder, or a device or pipe): make it the project's params.yaml.")
    if not path.is_file():
        raise UserError(f"{path} not found: run the stage from the project root, where params.yaml lives.")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:  # YAML's reader takes minutes over 100 MB, and gives no answer until then
            raise UserError(f"{path} is {size:,} bytes, where the project's is about 6 KB and no setting needs "
                            f"more than a few lines (at most {MAX_BYTES:,} bytes are read): is it the right file?")
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read {path} ({error.strerror or error}); fix its permissions.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise UserError(f"{path}, line {line}: not valid UTF-8 (byte 0x{data[error.start]:02x}, as Latin-1 or "
                        "Windows-1252 editors write accented letters); save the file as UTF-8.") from None
    try:
        loader = yaml.SafeLoader(text)  # checks every character first: YAML allows no control characters
    except yaml.reader.ReaderError as error:
        line = text[:error.position].count("\n") + 1
        raise UserError(f"{path}, line {line}: holds U+{error.character:04X}, a character YAML does not allow (a "
                        "control character, which an editor may not show); delete it.") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        _unique_keys(node)
        raw = loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{path} is not valid YAML{where}: {problem}; fix that line (check indentation and quotes).")
    except RecursionError:  # the loaders recurse once per level: `[[[[...` a thousand deep
        raise UserError(f"{path} nests lists or mappings too deeply for YAML's reader to follow; params.yaml needs "
                        "no more than sections of keys and short lists.") from None
    finally:
        loader.dispose()
    return raw if raw is not None else {}
