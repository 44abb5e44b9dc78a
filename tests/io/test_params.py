"""Bad params.yaml values stop a stage with one paragraph naming the key and what to do."""
import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from project import ROOT
from stages.io import params
from stages.io.errors import ParamsError, UserError

RAW = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_value(path: str, value):
    raw = copy.deepcopy(RAW)
    *sections, key = path.split(".")
    target = raw
    for section in sections:
        target = target[section]
    if value is KeyError:
        del target[key]
    else:
        target[key] = value
    return raw


def rejected(raw) -> ParamsError:
    with pytest.raises(ParamsError) as caught:
        params.parse(raw)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("params.yaml: ")
    return caught.value


def test_the_repository_params_are_valid():
    assert params.parse(copy.deepcopy(RAW)).lora.target_modules == ["q", "v"]


@pytest.mark.parametrize("path", ["colour", "train_full.learning_rat", "lora.rank"])
def test_unknown_key(path):
    error = rejected(with_value(path, 1))
    assert error.key == path and "unknown key" in str(error)


def test_missing_key():
    error = rejected(with_value("generate.num_beams", KeyError))
    assert error.key == "generate.num_beams" and "missing" in str(error)


@pytest.mark.parametrize("path, value, expected", [
    ("train_full.batch_size", "16", "an integer"),
    ("train_full.batch_size", 2.5, "an integer"),
    ("train_lora.group_by_length", "yes", "true or false"),
    ("lora.r", True, "an integer"),
    ("train_full.learning_rate", "fast", "a number"),
    ("data.max_train_samples", "all", "an integer or null"),
    ("lora.target_modules", "q", "a list"),
    ("model", "google/flan-t5-base", "a mapping"),
])
def test_wrong_type(path, value, expected):
    error = rejected(with_value(path, value))
    assert error.key == path and expected in str(error) and repr(value) in str(error)


@pytest.mark.parametrize("path, value", [
    ("train_full.batch_size", 0), ("train_full.learning_rate", -1e-4), ("train_lora.eval_batch_size", -2),
    ("train_full.gradient_accumulation_steps", 0), ("train_full.logging_steps", 0), ("train_lora.save_steps", -1),
    ("train_full.eval_steps", -5), ("train_full.warmup_ratio", 1.0), ("train_full.weight_decay", -0.1),
    ("train_full.seed", -1), ("data.seed", 2**32), ("data.max_source_length", 0), ("data.max_target_length", -8),
    ("data.max_test_samples", 0), ("lora.r", 0), ("lora.alpha", -16), ("lora.dropout", 1.0),
    ("generate.max_new_tokens", 0), ("generate.num_beams", 0), ("generate.batch_size", -1),
])
def test_zero_or_negative(path, value):
    error = rejected(with_value(path, value))
    assert error.key == path and repr(value) in str(error)


def test_zero_epochs_only_matter_without_max_steps():
    rejected(with_value("train_full.epochs", 0))
    raw = with_value("train_full.epochs", 0)
    raw["train_full"]["max_steps"] = 10
    assert params.parse(raw).train_full.max_steps == 10


@pytest.mark.parametrize("prompt", ["Summarize: {text}", "no placeholder", "{dialogue} and {dialogue}",
                                    "{dialogue} {summary}"])
def test_prompt_must_hold_dialogue_once(prompt):
    error = rejected(with_value("data.prompt", prompt))
    assert error.key == "data.prompt" and "{dialogue}" in str(error)


@pytest.mark.parametrize("precision, reason", [("fp16", "NaN"), ("int8", "one of")])
def test_precision(precision, reason):
    assert reason in str(rejected(with_value("generate.precision", precision)))


def test_empty_target_modules():
    assert "non-empty list" in str(rejected(with_value("lora.target_modules", [])))


@pytest.mark.parametrize("text, expected", [
    ("model: [unclosed\n", "not valid YAML at line"),
    ("- just\n- a list\n", "expected a mapping"),
    # found: a RecursionError traceback from YAML's composer
    ("model: " + "[" * 3000 + "]" * 3000 + "\n", "nests lists or mappings too deeply"),
    ("model: " + "{k: " * 3000 + "1" + "}" * 3000 + "\n", "nests lists or mappings too deeply"),
    ("model:\n  ? [a, b]\n  : 1\n", "found unhashable key"),  # found: a TypeError traceback (a list as a key)
])
def test_unreadable_file(in_tmp, text, expected):
    (in_tmp / "params.yaml").write_text(text)
    with pytest.raises(UserError) as caught:
        params.load()
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def _repository_text() -> str:
    return (ROOT / "params.yaml").read_text(encoding="utf-8")


def test_a_key_given_twice_is_refused_naming_it_and_both_lines(in_tmp):
    text = _repository_text()
    line = text.splitlines().index("  r: 32") + 1  # lora.r
    (in_tmp / "params.yaml").write_text(text.replace("  r: 32\n", "  r: 32\n  r: 4\n", 1))
    with pytest.raises(ParamsError) as caught:
        params.load()
    assert caught.value.key == "lora.r" and f"lines {line} and {line + 1}" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_section_given_twice_is_refused(in_tmp):
    (in_tmp / "params.yaml").write_text(_repository_text() + "lora:\n  r: 4\n")
    with pytest.raises(ParamsError, match="given twice") as caught:
        params.load()
    assert caught.value.key == "lora"


def test_the_same_key_in_two_sections_and_yaml_merge_keys_are_fine(in_tmp):
    (in_tmp / "params.yaml").write_text("a: &base\n  seed: 1\nb:\n  <<: *base\n  seed: 2\nc:\n  seed: 3\n")
    assert params.read() == {"a": {"seed": 1}, "b": {"seed": 2}, "c": {"seed": 3}}


def test_a_latin1_byte_is_one_message_with_its_line(in_tmp):
    text = _repository_text().encode("utf-8")
    line = 3
    lines = text.split(b"\n")
    lines[line - 1] += " # caf\u00e9".encode("latin-1")
    (in_tmp / "params.yaml").write_bytes(b"\n".join(lines))
    with pytest.raises(UserError) as caught:
        params.load()
    message = str(caught.value)
    assert f"line {line}: not valid UTF-8 (byte 0xe9" in message and "save the file as UTF-8" in message


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\ufffe"])
def test_a_control_character_is_one_message_with_its_line(in_tmp, character):
    """PyYAML refuses these before parsing, in the loader's constructor: that used to be a traceback."""
    lines = _repository_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(":", f":{character}", 1)
    (in_tmp / "params.yaml").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(UserError) as caught:
        params.load()
    assert str(caught.value) == (f"params.yaml, line 3: holds U+{ord(character):04X}, a character YAML does not "
                                 "allow (a control character, which an editor may not show); delete it.")


def test_yaml_aliases_that_hold_themselves_or_multiply_are_read_at_once(in_tmp):
    """`&x [*x]` once sent the duplicate-key check into endless recursion, and nine nested aliases (a billion
    items) into hours of walking; each alias is checked once, and the message quotes the value cut short."""
    laughs = "[&a [x, x, x, x, x, x, x, x, x, x]" + "".join(
        f", &{b} [{', '.join([f'*{a}'] * 10)}]" for a, b in zip("abcdefgh", "bcdefghi")) + "]"
    (in_tmp / "params.yaml").write_text(_repository_text().replace("[q, v]", laughs, 1))
    with pytest.raises(ParamsError, match="lora.target_modules: expected a list of strings or a string") as caught:
        params.load()
    assert len(str(caught.value)) < 400
    (in_tmp / "params.yaml").write_text("colour: &x [*x]\n")
    with pytest.raises(ParamsError, match="colour: unknown key"):
        params.load()


def test_a_bom_is_not_data(in_tmp):
    (in_tmp / "params.yaml").write_text("\ufeff" + _repository_text(), encoding="utf-8")
    assert params.load() == params.load(ROOT / "params.yaml")


def test_no_params_file(in_tmp):
    with pytest.raises(UserError, match="run the stage from the project root"):
        params.load()
    (in_tmp / "params.yaml").mkdir()  # found: "not found", for a file that is there (as a folder)
    with pytest.raises(UserError, match="params.yaml is not a file"):
        params.load()
    (in_tmp / "params.yaml").rmdir()
    with open(in_tmp / "params.yaml", "wb") as huge:  # found: 100 MB took minutes to be read, then refused
        huge.truncate(params.MAX_BYTES + 1)  # sparse: nothing written
    with pytest.raises(UserError, match="params.yaml is 1,048,577 bytes"):
        params.load()


@pytest.mark.parametrize("path, value", [
    ("train_full.learning_rate", float("inf")), ("train_lora.learning_rate", float("nan")),
    ("train_full.warmup_ratio", "nan"), ("lora.dropout", float("-inf")),
    ("evaluate.confidence", float("nan")), ("train_full.epochs", float("inf")),
])
def test_non_finite_numbers_are_refused(path, value):
    error = rejected(with_value(path, value))
    assert error.key == path and "finite" in str(error)


def test_yaml_infinity_is_refused_when_read_from_a_file(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text.replace("learning_rate: 5.0e-5", "learning_rate: .inf", 1))
    with pytest.raises(ParamsError, match="train_full.learning_rate: must be a finite number"):
        params.load(tmp_path / "params.yaml")


@pytest.mark.parametrize("path, value", [
    ("train_full.learning_rate", 100.0), ("train_lora.learning_rate", 1e38), ("generate.max_new_tokens", 10**9),
    ("generate.num_beams", 1000), ("train_full.batch_size", 10**6), ("evaluate.resamples", 10**9),
    ("data.max_source_length", 10**6), ("lora.r", 100_000),
])
def test_values_beyond_the_ceiling_are_refused(path, value):
    error = rejected(with_value(path, value))
    assert error.key == path and "ceiling" in str(error)


def test_every_ceiling_names_a_real_key_and_the_defaults_are_under_it():
    sections = [section.type for section in dataclasses.fields(params.Params)]
    fields = {name: field for cls in sections for name, field in cls.__pydantic_fields__.items()}
    assert set(params.CEILINGS) <= set(fields)
    for cls in sections:  # a reason without a ceiling would never be shown
        assert all({"le", "lt"} & set(params.bounds(field)) for name, field in cls.__pydantic_fields__.items()
                   if name in params.CEILINGS), cls
    params.load(Path(__file__).resolve().parents[2] / "params.yaml")  # the shipped defaults pass


def test_every_section_is_strict_frozen_and_closed():
    """A section added without `@params.section` would take "16" for 16 and keys nobody reads."""
    for section in dataclasses.fields(params.Params):
        config = section.type.__pydantic_config__
        assert (config["strict"], config["extra"], config["allow_inf_nan"]) == (True, "forbid", False), section.name
        assert section.type.__dataclass_params__.frozen


@pytest.mark.parametrize("path, value, key, expected", [
    ("model.__dataclass_self__", 1, "model.__dataclass_self__", "unknown key"),  # a name pydantic's init takes
    ("lora", {1: 2}, "lora.1", "unknown key; known keys here are: r, alpha"),  # YAML's `1:` is a number
    ("train_full.learning_rate", 10**400, "train_full.learning_rate", "must be a finite number"),  # float() overflows
    ("data.max_source_length", 10**400, "data.max_source_length", "is beyond the ceiling of 4,096"),
    ("lora.target_modules", [1], "lora.target_modules", "expected a list of strings or a string, got [1]"),
    ("lora.target_modules", [""], "lora.target_modules", "non-empty list"),
    ("model.name", "  ", "model.name", "must not be empty"),
    ("data.revision", "main\x1b[31m\nerror: x", "data.revision", "(shown escaped: 'main\\x1b[31m\\nerror: x')"),
    ("generate.engine", None, "generate.engine", "expected a string, got None"),
    ("train_full.max_steps", 2.0, "train_full.max_steps", "expected an integer, got 2.0"),
    ("lora.use_dora", 1, "lora.use_dora", "expected true or false, got 1"),
    ("data", [1], "data", "expected a mapping of keys, got [1]"),
    ("lora", {"k" * 100_000: 1}, "lora." + repr("k" * 37 + "..." + "k" * 38), "unknown key"),  # found: 100 KB shown
    ("generate.engine", "x" * 100_000, "generate.engine", "must be one of torch, ctranslate2, got 'xxx"),  # the same
    ("lora.target_modules", "x" * 100_000, "lora.target_modules", "the one name allowed instead of a list"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "")
def test_hostile_values_are_one_paragraph_naming_the_key(path, value, key, expected):
    error = rejected(with_value(path, value))
    assert error.key == key and expected in str(error) and len(str(error)) < 400


def test_a_float_written_as_yaml_1_1_reads_it_is_a_number():
    """`1e-3` (no dot) is a string to YAML 1.1: as before, it counts as the number it spells."""
    p = params.parse(with_value("train_lora.learning_rate", "1e-3"))
    assert p.train_lora.learning_rate == 0.001 and p.train_full.epochs == 1.0 and type(p.train_full.epochs) is float
