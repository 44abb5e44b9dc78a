"""params.yaml, validated into typed objects: a bad key stops a stage before any heavy work."""
import dataclasses
import math
import string
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import ParamsError, UserError

PRECISIONS = ("auto", "bf16", "fp32")
ENGINES = ("torch", "ctranslate2")  # stages/inference/engines.py
# CTranslate2's compute types (auto: int8 on a CPU, bfloat16 or float32 on a GPU: stages/inference/ct2.py)
COMPUTE_TYPES = ("auto", "int8", "float32", "int8_float32", "float16", "bfloat16", "int8_float16", "int8_bfloat16")
ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")  # as stages/scoring/rouge.py scores them
SELECT_METRICS = ("eval_loss", *ROUGE_KEYS, "last")  # what picks the saved model (stages/training/selection.py)
MAX_SEED = 2**32 - 1  # numpy's limit: set_seed() fails deep inside the Trainer beyond it

# Ceilings no real run needs to pass, by key name in any section: each stops a typo (an extra zero, 1e9) from
# diverging or running for hours before anyone notices. key -> (largest value allowed, why).
CEILINGS = {
    "learning_rate": (1.0, "Adam moves each weight by about the learning rate per step; T5 fine-tunes use 1e-5 "
                           "(full) to 1e-2 (LoRA), and beyond 1 every step rewrites the weights"),
    "epochs": (100, "DialogSum fine-tunes converge within a few epochs"),
    "max_steps": (10_000_000, "ten million optimizer steps is months on one GPU"),
    "batch_size": (4096, "more examples than fit in any GPU's memory at once"),
    "eval_batch_size": (4096, "more examples than fit in any GPU's memory at once"),
    "gradient_accumulation_steps": (1024, "an effective batch beyond a million examples is the whole corpus many times"),
    "logging_steps": (10_000_000, "as max_steps"),
    "eval_steps": (10_000_000, "as max_steps"),
    "save_steps": (10_000_000, "as max_steps"),
    "dataloader_workers": (64, "more worker processes than cores only adds memory"),
    "pad_to_multiple_of": (512, "tensor cores want multiples of 8 to 64"),
    "max_source_length": (4096, "flan-t5 was trained on 512 input tokens; DialogSum dialogues fit in 1024"),
    "max_target_length": (1024, "DialogSum summaries are under 200 tokens"),
    "max_new_tokens": (1024, "DialogSum summaries are under 200 tokens; a runaway limit costs minutes per batch"),
    "num_beams": (32, "summarization uses 1 to 8 beams; each beam multiplies decoding time and memory"),
    "r": (1024, "the rank of a LoRA update beyond flan-t5-base's 768-wide layers adds nothing"),
    "alpha": (4096, "scaling alpha/r beyond a few dozen is a learning rate typo"),
    "resamples": (1_000_000, "intervals are stable to 3 digits at 10,000; a million already takes minutes"),
}


@dataclass(frozen=True)
class ModelParams:
    name: str
    revision: str

    def check(self, key):
        _nonempty(key, self, "name", "revision")


@dataclass(frozen=True)
class DataParams:
    source: str
    revision: str
    prompt: str
    max_source_length: int
    max_target_length: int
    # Counted in distinct dialogues: a test dialogue keeps all of its references.
    max_train_samples: int | None
    max_validation_samples: int | None
    max_test_samples: int | None
    seed: int

    def check(self, key):
        _nonempty(key, self, "source", "revision")
        fields = _prompt_fields(self.prompt)
        if fields != ["dialogue"]:
            raise ParamsError(
                f"{key}.prompt",
                "the template must contain {dialogue} exactly once and no other {field} "
                f"(found {fields or 'none'}); write literal braces as {{{{ and }}}}.",
            )
        _positive(key, self, "max_source_length", "max_target_length")
        for split in ("train", "validation", "test"):
            name = f"max_{split}_samples"
            if getattr(self, name) is not None:
                _positive(key, self, name)
        _within(key, self, "seed", 0, MAX_SEED)


@dataclass(frozen=True)
class TrainParams:
    learning_rate: float
    epochs: float
    max_steps: int  # > 0 overrides epochs, for smoke runs
    batch_size: int  # effective batch = batch_size * gradient_accumulation_steps, whatever the process count
    eval_batch_size: int
    gradient_accumulation_steps: int
    warmup_ratio: float
    weight_decay: float
    logging_steps: int
    eval_steps: int  # 0 evaluates only at the end
    save_steps: int  # trainer checkpoints to resume from after a crash
    seed: int
    precision: str  # bf16 where the hardware has it, else fp32; never fp16 for T5
    group_by_length: bool
    pad_to_multiple_of: int | None
    dataloader_workers: int
    # Evidence for choosing the model (stages/training/selection.py) and memory for speed.
    rouge_samples: int | None  # validation dialogues summarized and scored at each evaluation; null = all, 0 = none
    select_metric: str  # what picks the saved model: eval_loss, a ROUGE variant, or last
    early_stopping_patience: int  # evaluations without improvement before stopping; 0 = never stop early
    early_stopping_min_delta: float  # the least change in select_metric that counts as an improvement
    gradient_checkpointing: bool  # recompute activations in the backward pass: less memory, slower steps

    def check(self, key):
        _positive(key, self, "learning_rate", "batch_size", "eval_batch_size", "gradient_accumulation_steps",
                  "logging_steps")
        if self.max_steps <= 0:
            _positive(key, self, "epochs")
        _within(key, self, "warmup_ratio", 0, 1, high_open=True)
        _within(key, self, "weight_decay", 0, 1)
        _nonnegative(key, self, "eval_steps", "save_steps", "dataloader_workers")
        if self.pad_to_multiple_of is not None:
            _positive(key, self, "pad_to_multiple_of")
        _within(key, self, "seed", 0, MAX_SEED)
        _precision(key, self.precision)
        _selection(key, self)


@dataclass(frozen=True)
class LoraParams:
    r: int
    alpha: int
    dropout: float
    target_modules: list[str] | str  # module names, or "all-linear"
    # Variants (stages/training/adapters.py): weight-decomposed LoRA, rank-stabilized scaling, LoRA+ learning rate for B.
    use_dora: bool
    use_rslora: bool
    loraplus_lr_ratio: float | None  # B matrices learn this many times faster; null = plain LoRA

    def check(self, key):
        _positive(key, self, "r", "alpha")
        _within(key, self, "dropout", 0, 1, high_open=True)
        if isinstance(self.target_modules, str):
            if self.target_modules != "all-linear":
                raise ParamsError(f"{key}.target_modules", f"the one name allowed instead of a list is all-linear, "
                                                           f"got {self.target_modules!r}; or give a list such as [q, v].")
        elif not self.target_modules or not all(isinstance(m, str) and m for m in self.target_modules):
            raise ParamsError(f"{key}.target_modules", "give a non-empty list of module names, such as [q, v].")
        if self.loraplus_lr_ratio is not None:
            _within(key, self, "loraplus_lr_ratio", 1, 1000)


@dataclass(frozen=True)
class GenerateParams:
    split: str
    max_new_tokens: int  # without it generate() stops at 20 tokens
    num_beams: int
    # beam search: true stops once num_beams summaries have ended, false is transformers' heuristic; null = the
    # model's generation config (transformers' default: false). Greedy search ignores it.
    early_stopping: bool | None
    batch_size: int
    precision: str  # the torch engine's
    engine: str  # torch (transformers' generate) or ctranslate2 (the model converted, then decoded alike)
    compute_type: str  # the ctranslate2 engine's

    def check(self, key):
        if self.split not in ("validation", "test"):
            raise ParamsError(f"{key}.split", f"must be 'validation' or 'test', not {self.split!r}.")
        _positive(key, self, "max_new_tokens", "num_beams", "batch_size")
        _precision(key, self.precision)
        _one_of(key, self, "engine", ENGINES)
        _one_of(key, self, "compute_type", COMPUTE_TYPES)
        if self.engine == "ctranslate2" and self.num_beams > 1 and self.early_stopping is False:
            # null is checked against the model's generation config when the engine loads (stages/inference/ct2.py)
            raise ParamsError(f"{key}.early_stopping", "cannot be false for ctranslate2 with beams: transformers' "
                                                       "stopping heuristic has no CTranslate2 equivalent, so the "
                                                       "summaries would differ from torch's; set it to true (both "
                                                       "engines stop once num_beams summaries have ended), num_beams "
                                                       "to 1, or engine to torch.")


@dataclass(frozen=True)
class EvaluateParams:
    resamples: int  # bootstrap resamples of dialogues, and random sign flips of the paired test
    seed: int
    confidence: float  # of the bootstrap intervals, e.g. 0.95

    def check(self, key):
        if self.resamples < 100:
            raise ParamsError(f"{key}.resamples", f"use at least 100 resamples (1000 or more for "
                                                  f"stable intervals), got {self.resamples!r}.")
        _within(key, self, "seed", 0, MAX_SEED)
        _within(key, self, "confidence", 0.5, 1, high_open=True)


@dataclass(frozen=True)
class Params:
    model: ModelParams
    data: DataParams
    train_full: TrainParams
    train_lora: TrainParams
    lora: LoraParams
    generate: GenerateParams
    evaluate: EvaluateParams


def load(path="params.yaml") -> Params:
    """Read and validate params.yaml; every key must be known and every value sane."""
    return parse(read(path))


def _unique_keys(node, prefix="") -> None:
    """Refuse a key given twice in one mapping: YAML loaders keep the last silently, so `r: 32` above `r: 4`
    would train with 4 while the file seems to say 32."""
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
            seen[key_node.tag, key_node.value] = line
            _unique_keys(value_node, key)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _unique_keys(item, f"{prefix}[{index}]")


def read(path="params.yaml") -> dict:
    """params.yaml as plain YAML values, before validation: UTF-8, valid YAML, no key given twice."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found: run the stage from the project root, where params.yaml lives.")
    try:
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
    finally:
        loader.dispose()
    return raw if raw is not None else {}


def parse(raw: dict) -> Params:
    params = _build(Params, raw, "")
    for section in dataclasses.fields(Params):
        values = getattr(params, section.name)
        values.check(section.name)
        _ceilings(section.name, values)
    return params


def _ceilings(section, obj):
    for name, (ceiling, why) in CEILINGS.items():
        value = getattr(obj, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > ceiling:
            raise ParamsError(f"{section}.{name}", f"{value!r} is beyond the ceiling of {ceiling:g} ({why}); "
                                                   "this is most likely a typo.")


def _build(cls, raw, prefix):
    if not isinstance(raw, dict):
        raise ParamsError(prefix or "(top level)", f"expected a mapping of keys, got {raw!r}.")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ParamsError(_join(prefix, key), f"unknown key; known keys here are: {', '.join(known)}.")
    for key in known:
        if key not in raw:
            raise ParamsError(_join(prefix, key), "missing; every key must be set in params.yaml (null where allowed).")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        key = _join(prefix, name)
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value, key)
        else:
            values[name] = _coerce(key, kind, value)
    return cls(**values)


def _coerce(key, kind, value):
    arms = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else ()
    if type(None) not in arms and len(arms) > 1:  # e.g. list[str] | str: the first arm the value fits
        for arm in arms:
            try:
                return _coerce(key, arm, value)
            except ParamsError:
                pass
        raise ParamsError(key, f"expected one of {' or '.join(getattr(a, '__name__', str(a)) for a in arms)}, "
                               f"got {value!r}.")
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind)
    if optional:
        if value is None:
            return None
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if typing.get_origin(kind) is list:
        if not isinstance(value, list):
            raise ParamsError(key, f"expected a list, got {value!r}.")
        return [_coerce(f"{key}[{i}]", typing.get_args(kind)[0], item) for i, item in enumerate(value)]
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        # YAML 1.1 reads 1e-3 as a string; accept it as the number the user meant.
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None:
            if not math.isfinite(number):  # .inf and .nan are valid YAML, never a valid setting
                raise ParamsError(key, f"must be a finite number, got {value!r}.")
            return number
    elif kind is str:
        if isinstance(value, str):
            return value
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[kind]
    raise ParamsError(key, f"expected {expected}{' or null' if optional else ''}, got {value!r}.")


def _join(prefix, key):
    return f"{prefix}.{key}" if prefix else str(key)


def _nonempty(section, obj, *names):
    for name in names:
        if not getattr(obj, name).strip():
            raise ParamsError(f"{section}.{name}", "must not be empty.")


def _positive(section, obj, *names):
    for name in names:
        if not getattr(obj, name) > 0:
            raise ParamsError(f"{section}.{name}", f"must be greater than 0, got {getattr(obj, name)!r}.")


def _nonnegative(section, obj, *names):
    for name in names:
        if getattr(obj, name) < 0:
            raise ParamsError(f"{section}.{name}", f"must be 0 or more, got {getattr(obj, name)!r}.")


def _within(section, obj, name, low, high, high_open=False):
    value = getattr(obj, name)
    if not (low <= value < high if high_open else low <= value <= high):
        bound = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        raise ParamsError(f"{section}.{name}", f"must be in {bound}, got {value!r}.")


def _one_of(section, obj, name, allowed):
    value = getattr(obj, name)
    if value not in allowed:
        raise ParamsError(f"{section}.{name}", f"must be one of {', '.join(allowed)}, got {value!r}.")


def _precision(section, value):
    if value == "fp16":
        raise ParamsError(f"{section}.precision", "fp16 is not offered: T5 overflows to NaN in fp16; use bf16 or fp32.")
    if value not in PRECISIONS:
        raise ParamsError(f"{section}.precision", f"must be one of {', '.join(PRECISIONS)}, got {value!r}.")


def _prompt_fields(prompt: str) -> list[str]:
    """Each {field} of the template as written, with any !conversion or :format (only a plain {dialogue}
    passes); a lone { or } is a field that can never be filled."""
    try:
        parsed = list(string.Formatter().parse(prompt))
    except ValueError as error:  # "Single '{' encountered in format string"
        return [f"unbalanced brace ({error})"]
    return [name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            for _, name, spec, conversion in parsed if name is not None]


def _selection(key, cfg):
    """The model-selection params of a training stage, which only make sense together."""
    if cfg.select_metric not in SELECT_METRICS:
        raise ParamsError(f"{key}.select_metric", f"must be one of {', '.join(SELECT_METRICS)}, got "
                                                  f"{cfg.select_metric!r}.")
    if cfg.rouge_samples is not None:
        _nonnegative(key, cfg, "rouge_samples")
    if cfg.select_metric in ROUGE_KEYS and cfg.rouge_samples == 0:
        raise ParamsError(f"{key}.select_metric", f"{cfg.select_metric} needs validation ROUGE: set "
                                                  f"{key}.rouge_samples above 0 (or null), or select on eval_loss.")
    _nonnegative(key, cfg, "early_stopping_patience")
    if not (math.isfinite(cfg.early_stopping_min_delta) and cfg.early_stopping_min_delta >= 0):
        raise ParamsError(f"{key}.early_stopping_min_delta", f"must be a finite number >= 0, got "
                                                             f"{cfg.early_stopping_min_delta!r}.")
    if cfg.early_stopping_patience and cfg.select_metric == "last":
        raise ParamsError(f"{key}.early_stopping_patience", "early stopping watches select_metric, which is last: "
                                                            "set select_metric to eval_loss or a ROUGE variant, or "
                                                            "patience to 0.")
    if cfg.early_stopping_patience and cfg.eval_steps == 0:
        raise ParamsError(f"{key}.early_stopping_patience", f"needs evaluations during training: set "
                                                            f"{key}.eval_steps above 0, or patience to 0.")
