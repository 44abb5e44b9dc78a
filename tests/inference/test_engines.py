"""The inference engines: fp32 CTranslate2 decodes exactly as fp32 PyTorch, the converted-model cache, params."""
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml

import tiny
from project import ROOT
from stages import generate, summarize
from stages.data import dialogsum
from stages.io import hashing, params
from stages.io.errors import ParamsError, UserError
from stages.modeling import identity, models
from stages.inference import cache, ct2, decode, engines


@pytest.fixture(scope="module")
def project(prepared, tmp_path_factory):
    """The prepared tiny project with decisive random weights in models/base and a random LoRA in models/lora."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("engines")
    shutil.copytree(prepared[0], root, dirs_exist_ok=True)
    tiny.liven(root / "models/base", seed=2)  # a seed whose summaries vary and end at varied lengths
    torch.manual_seed(1)
    base = models.load_model(root / "models/base")
    # init_lora_weights=False: B random too, so the adapter changes the summaries
    adapter = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q", "v"], init_lora_weights=False))
    adapter.save_pretrained(str(root / "models/lora"))
    identity.record(root / "models/lora", root / "models/base")  # as train_lora saves it: its tokenizer proven
    return root


@pytest.fixture
def at(project, monkeypatch):
    monkeypatch.chdir(project)  # both engines take torch's thread count: one (conftest.py) unless a test sets it
    return project


def settings(**generate_params):
    raw = yaml.safe_load(Path("params.yaml").read_text())
    raw["generate"].update(max_new_tokens=24, batch_size=4, **generate_params)
    return params.parse(raw)


def prompts() -> list[list[int]]:
    """The distinct test and validation prompts the pipeline built."""
    return [list(ids) for split in ("test", "validation")
            for ids in decode.distinct(dialogsum.load_prepared(split)["input_ids"])]


@pytest.mark.parametrize("which", ["base", "lora"])
@pytest.mark.parametrize("beams", [1, 2])
def test_fp32_ctranslate2_writes_the_summaries_torch_writes(at, which, beams):
    inputs = prompts()
    stop = {"early_stopping": True} if beams > 1 else {}  # the one beam-search rule CTranslate2 has
    expected = engines.load_engine(which, settings(num_beams=beams, **stop)).summarize(inputs)
    engine = engines.load_engine(which, settings(num_beams=beams, engine="ctranslate2", compute_type="float32",
                                                 **stop))
    assert engine.describe()["engine"] == "ctranslate2" and engine.describe()["compute_type"] == "float32"
    assert engine.summarize(inputs) == expected
    assert len(set(expected)) > len(expected) // 2  # varied summaries (how they end: the next test)


def test_a_model_folder_whose_config_names_no_model_type_is_one_message(tmp_path):
    (tmp_path / "config.json").write_text("{}")  # the torch engine says so in one message too (models.load)
    with pytest.raises(UserError, match="model_type"):
        ct2.generation_config(tmp_path)


def test_workers_split_a_cpus_threads_evenly():
    assert ct2.workers(2, 16) == (2, 1) and ct2.workers(16, 16) == (4, 4)  # the splits measured best
    assert ct2.workers(16, 1) == (1, 16)  # one dialogue: one worker, every thread
    for threads in range(1, 65):
        for batch in (1, 2, 3, 16, 64):
            count, each = ct2.workers(threads, batch)
            assert count * each == threads and 1 <= count <= batch


def test_loading_a_ctranslate2_engine_leaves_torchs_threads_alone(at):
    # CTranslate2 sets the OpenMP thread count of the thread that builds a translator to intra_threads, which torch
    # shares: a second model loaded after it (serve --models base full, summarize --adapter a=... b=...) saw one
    # thread and got one worker of one thread
    torch.set_num_threads(2)
    cfg = settings(engine="ctranslate2", compute_type="float32").generate
    first = engines.load_ctranslate2("base", cfg, models.load_tokenizer(), split=(2, 1))
    assert torch.get_num_threads() == 2
    first.summarize(prompts()[:3])
    assert torch.get_num_threads() == 2
    second = engines.load_ctranslate2("base", cfg, models.load_tokenizer())
    assert (second.describe()["threads"], second.describe()["workers"]) == (2, ct2.workers(2, cfg.batch_size)[0])


def test_several_workers_decode_as_one_does(at):
    inputs = prompts()
    cfg = settings(engine="ctranslate2", compute_type="float32").generate
    one = engines.load_ctranslate2("base", cfg, models.load_tokenizer(), split=(1, 2))
    two = engines.load_ctranslate2("base", cfg, models.load_tokenizer(), split=(2, 1))
    assert (one.translator.num_translators, two.translator.num_translators) == (1, 2)
    assert two.describe()["workers"] == 2
    assert two.summarize(inputs) == one.summarize(inputs)


def test_the_agreement_is_neither_trivial_nor_float_luck(at):
    """Some greedy summaries end with the end token, others run to max_new_tokens; and at every step the chosen
    token leads the next by far more than the two engines' rounding differs (about 1e-5 here)."""
    model = decode.load("base", "fp32")
    batch = models.load_tokenizer().pad({"input_ids": prompts()}, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=24, do_sample=False, output_scores=True,
                             return_dict_in_generate=True)
    ended = [row[1:].tolist().count(1) > 0 for row in out.sequences]  # 1: the end token
    assert 0 < sum(ended) < len(ended) and out.sequences.shape[1] == 25
    gaps = torch.cat([(s.topk(2).values[:, 0] - s.topk(2).values[:, 1]) for s in out.scores])
    assert float(gaps.min()) > 1e-3


def test_generate_stage_with_ctranslate2_records_its_engine(at, monkeypatch):
    raw = yaml.safe_load(Path("params.yaml").read_text())
    originally = Path("params.yaml").read_text()
    try:
        generate.main("lora")
        torch_rows = Path("data/predictions/lora.jsonl").read_text()
        raw["generate"].update(engine="ctranslate2", compute_type="float32")
        Path("params.yaml").write_text(yaml.safe_dump(raw))
        generate.main("lora")
    finally:
        Path("params.yaml").write_text(originally)
    assert Path("data/predictions/lora.jsonl").read_text() == torch_rows
    metrics = json.loads(Path("metrics/generate_lora.json").read_text())
    assert metrics["engine"] == "ctranslate2" and metrics["compute_type"] == "float32"
    assert metrics["device"] == "cpu" and metrics["threads"] == 1 and metrics["ctranslate2"]


def test_summarize_cli_uses_the_engine_for_models_and_adapters(at, capsys):
    texts = list(dict.fromkeys(dialogsum.load_prepared("test")["dialogue"]))[:3]
    (at / "in.jsonl").write_text("".join(json.dumps({"id": str(i), "dialogue": t}) + "\n" for i, t in enumerate(texts)))
    originally = Path("params.yaml").read_text()
    out = {}
    try:
        for name in params.ENGINES:
            raw = yaml.safe_load(originally)
            raw["generate"].update(engine=name, compute_type="float32")
            Path("params.yaml").write_text(yaml.safe_dump(raw))
            summarize.main(["--jsonl", "in.jsonl", "--adapter", "a=models/lora", "--adapter", "b=models/lora"])
            out[name] = capsys.readouterr().out
    finally:
        Path("params.yaml").write_text(originally)
    assert out["ctranslate2"] == out["torch"] and len(out["torch"].splitlines()) == 6


def count_conversions(monkeypatch) -> list:
    made = []
    convert = ct2.convert

    def counted(model, tokenizer, config, out, compute_type, config_folder):
        made.append(compute_type)
        convert(model, tokenizer, config, out, compute_type, config_folder)

    monkeypatch.setattr(ct2, "convert", counted)
    return made


def test_the_cache_is_reused_and_rebuilt_only_when_weights_or_compute_type_change(at, tmp_path, monkeypatch):
    made = count_conversions(monkeypatch)
    root = tmp_path / "engines"
    foreign = root / "notes"
    foreign.mkdir(parents=True)
    (foreign / "engine.json").write_text("{}")  # not a record this cache wrote: never removed
    adapter = tmp_path / "adapter"
    shutil.copytree(at / "models/lora", adapter)
    p32, p8 = settings(engine="ctranslate2", compute_type="float32"), settings(engine="ctranslate2", compute_type="int8")

    first = engines.load_engine(str(adapter), p32, root)
    again = engines.load_engine(str(adapter), p32, root)
    assert made == ["float32"] and again.summarize(prompts()[:2]) == first.summarize(prompts()[:2])
    engines.load_engine(str(adapter), p8, root)
    engines.load_engine("base", p32, root)
    assert made == ["float32", "int8", "float32"]
    kept = sorted(path.name for path in root.iterdir())
    assert [name.rsplit("-", 1)[0] for name in kept] == ["adapter-float32", "adapter-int8", "base-float32", "notes"]

    from safetensors.torch import load_file, save_file
    weights = load_file(adapter / "adapter_model.safetensors")
    save_file({k: v * 2 for k, v in weights.items()}, str(adapter / "adapter_model.safetensors"))
    engines.load_engine(str(adapter), p32, root)
    assert made[-1] == "float32" and len(made) == 4
    now = sorted(path.name for path in root.iterdir())
    # the adapter's conversions of its old weights (both compute types) are gone; base's and the foreign folder stay
    assert [name.rsplit("-", 1)[0] for name in now] == ["adapter-float32", "base-float32", "notes"]
    assert now[0] not in kept and now[1:] == kept[2:]


def test_a_failed_conversion_leaves_no_cache_behind(at, tmp_path, monkeypatch):
    root = tmp_path / "engines"

    def broken(model, tokenizer, config, out, compute_type, config_folder):
        Path(out).mkdir()
        (Path(out) / "model.bin").write_bytes(b"half")
        raise RuntimeError("disk went away")

    convert = ct2.convert
    monkeypatch.setattr(ct2, "convert", broken)
    p = settings(engine="ctranslate2", compute_type="float32")
    with pytest.raises(RuntimeError, match="disk went away"):
        engines.load_engine("base", p, root)
    assert list(root.iterdir()) == []

    killed = root / f".base-float32-0123456789abcdef.tmp-{2**22 + 7}"  # a pid no process has
    killed.mkdir()
    (killed / "model.bin").write_bytes(b"half")
    monkeypatch.setattr(ct2, "convert", convert)
    engine = engines.load_engine("base", p, root)
    assert not killed.exists() and [path.name for path in root.iterdir()] == [engine.folder.name]


def test_a_compute_type_the_device_lacks_is_one_error_naming_the_key(at, tmp_path, monkeypatch):
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_supported_compute_types", lambda device: {"float32", "int8", "int8_float32"})
    with pytest.raises(ParamsError) as error:
        engines.load_engine("base", settings(engine="ctranslate2", compute_type="bfloat16"), tmp_path / "engines")
    assert error.value.key == "generate.compute_type"
    assert "bfloat16 is not available on this CPU" in str(error.value) and "int8_float32" in str(error.value)
    assert not (tmp_path / "engines").exists()  # refused before any conversion


def test_auto_compute_type():
    cpu, gpu_bf16, gpu_old = {"int8", "float32", "int8_float32"}, {"float32", "float16", "bfloat16", "int8",
                                                                    "int8_float16", "int8_bfloat16"}, {"float32",
                                                                                                       "float16", "int8"}
    assert ct2.resolve("auto", "cpu", cpu)[0] == "int8"
    assert ct2.resolve("auto", "cuda", gpu_bf16)[0] == "bfloat16"
    assert ct2.resolve("auto", "cuda", gpu_old)[0] == "float32"  # never float16 by itself: T5 overflows
    assert ct2.resolve("int8_float16", "cuda", gpu_bf16) == ("int8_float16", "int8_float16 asked for in params.yaml")
    assert ct2.device("cuda", 1) == "cuda" and ct2.device("cuda", 0) == "cpu" and ct2.device("mps", 0) == "cpu"


def test_decoding_options_follow_the_generation_config():
    from transformers import GenerationConfig

    cfg = settings_like(num_beams=3, max_new_tokens=40, early_stopping=True)
    options = ct2.decoding_options(GenerationConfig(decoder_start_token_id=0, eos_token_id=1), cfg)
    assert options["beam_size"] == 3 and options["max_decoding_length"] == 40 and options["end_token"] == [1]
    assert options["min_decoding_length"] == 0 and options["length_penalty"] == 1.0 and options["max_input_length"] == 0
    assert options["patience"] == 1 and options["no_repeat_ngram_size"] == 0
    greedy = ct2.decoding_options(GenerationConfig(min_length=5, length_penalty=2.0, eos_token_id=[1, 7]),
                                  settings_like(num_beams=1))
    assert (greedy["min_decoding_length"], greedy["length_penalty"], greedy["end_token"]) == (4, 2.0, [1, 7])
    stops = ct2.decoding_options(GenerationConfig(early_stopping=True), settings_like(num_beams=2))
    assert stops["beam_size"] == 2  # null: the generation config's early_stopping, here true


@pytest.mark.parametrize("config, generate, key, words", [
    # generate() applies these after the log-softmax of beam search, CTranslate2 before: other beams win
    ({"min_length": 5}, {"num_beams": 2, "early_stopping": True}, "generate.num_beams", "minimum length"),
    ({"min_new_tokens": 3}, {"num_beams": 4, "early_stopping": True}, "generate.num_beams", "minimum length"),
    ({"no_repeat_ngram_size": 3}, {"num_beams": 2, "early_stopping": True}, "generate.engine", "no_repeat_ngram"),
    # greedy too: generate() counts the decoder start token in its n-grams, CTranslate2 does not
    ({"no_repeat_ngram_size": 2}, {"num_beams": 1}, "generate.engine", "decoder start token"),
    # transformers' default stopping heuristic (early_stopping false), from the generation config or params
    ({}, {"num_beams": 2}, "generate.early_stopping", "early_stopping False"),
    ({"early_stopping": "never"}, {"num_beams": 2}, "generate.early_stopping", "early_stopping 'never'"),
    ({"early_stopping": True}, {"num_beams": 2, "early_stopping": False}, "generate.early_stopping", "false"),
    ({"repetition_penalty": 1.2, "suppress_tokens": [5]}, {"num_beams": 1}, "generate.engine",
     "repetition_penalty, suppress_tokens.*set generate.engine to torch"),
])
def test_settings_ctranslate2_applies_differently_are_refused_naming_the_key(config, generate, key, words):
    from transformers import GenerationConfig

    with pytest.raises(ParamsError, match=words) as error:
        ct2.decoding_options(GenerationConfig(**config), settings_like(engine="ctranslate2", **generate))
    assert error.value.key == key
    assert "params.yaml" in str(error.value)


def test_beams_without_early_stopping_are_refused_for_ctranslate2_when_params_are_read():
    with pytest.raises(ParamsError, match="no CTranslate2 equivalent") as error:
        settings_like(engine="ctranslate2", num_beams=4, early_stopping=False)
    assert error.value.key == "generate.early_stopping"
    for fine in ({"engine": "torch", "num_beams": 4, "early_stopping": False},
                 {"engine": "ctranslate2", "num_beams": 1, "early_stopping": False},
                 {"engine": "ctranslate2", "num_beams": 4, "early_stopping": True}):
        assert settings_like(**fine).early_stopping is fine["early_stopping"]


def settings_like(**values):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["generate"].update(values)
    return params.parse(raw).generate


@pytest.mark.parametrize("key, value, words", [
    ("early_stopping", "never", "expected true or false or null"),
    ("engine", "onnx", "must be one of torch, ctranslate2"),
    ("engine", None, "expected a string"),
    ("compute_type", "int4", "must be one of auto, int8, float32"),
    ("compute_type", "fp16", "must be one of auto"),
])
def test_engine_params_are_validated(key, value, words):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["generate"][key] = value
    with pytest.raises(ParamsError, match=words) as error:
        params.parse(raw)
    assert error.value.key == f"generate.{key}"


def test_the_pipeline_defaults_to_torch():
    p = params.load(ROOT / "params.yaml")
    assert p.generate.engine == "torch" and p.generate.compute_type == "auto"


def test_ctranslate2_missing_says_how_to_install_it(monkeypatch):
    import importlib

    real = importlib.import_module

    def without(name, *args):
        if name == "ctranslate2":
            raise ImportError("No module named 'ctranslate2'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without)
    with pytest.raises(UserError, match="pip install ctranslate2==4.8.5.*generate.engine to torch"):
        ct2.module()


def test_the_report_cost_table_names_each_models_engine(tmp_path, tiny_model):
    from stages.reporting import report
    from stages.scoring import costs
    from stages.io.files import write_json

    metrics = tmp_path / "metrics"
    write_json(metrics / "generate_base.json", {"s_per_dialogue": 0.01, "mean_summary_words": 7.0,
                                                "engine": "ctranslate2", "compute_type": "int8"})
    write_json(metrics / "generate_full.json", {"s_per_dialogue": 0.04, "mean_summary_words": 7.0})  # older run
    write_json(metrics / "train_full.json", {"trainable_params": 5})
    rows = report.cost_table(costs.collect(tiny_model, ("base", "full"), metrics))
    assert "generated by" in rows[0]
    assert "| 0.010 | ctranslate2 int8 | 7.0 |" in rows[2] and "| 0.040 | — | 7.0 |" in rows[3]


def _flip(path):
    data = bytearray(path.read_bytes())
    for at in (len(data) // 3, len(data) // 2, len(data) * 2 // 3):
        data[at] ^= 0x5A  # a few weights' bytes: the model still loads, and decodes otherwise
    path.write_bytes(bytes(data))


def _swap(path):
    tokens = json.loads(path.read_text())
    tokens[10], tokens[11] = tokens[11], tokens[10]  # still a valid vocabulary: two tokens read as each other
    path.write_text(json.dumps(tokens))


DAMAGE = {
    "flipped bytes in model.bin": lambda folder: _flip(folder / "model.bin"),
    "two vocabulary entries swapped": lambda folder: _swap(folder / "shared_vocabulary.json"),
    "vocabulary not UTF-8": lambda folder: (folder / "shared_vocabulary.json").write_bytes(b'["\xff\xfe"]'),
    "model.bin cut short": lambda folder: (folder / "model.bin").write_bytes((folder / "model.bin").read_bytes()[:1000]),
    "a file added": lambda folder: (folder / "extra.bin").write_bytes(b"x"),
    "model.bin removed": lambda folder: (folder / "model.bin").unlink(),
    "its record removed": lambda folder: (folder / cache.MARKER).unlink(),
}


def test_a_damaged_conversion_is_converted_again_with_one_note(at, tmp_path, capsys):
    """Whatever changed in a converted model since it was written, it is never used: converted anew, said once."""
    p, root = settings(engine="ctranslate2", compute_type="float32"), tmp_path / "engines"
    inputs = prompts()
    engine = engines.load_engine("base", p, root)
    folder, expected = engine.folder, engine.summarize(inputs)
    written = {name: hashing.sha256(folder / name) for name in sorted(os.listdir(folder))}
    record = json.loads((folder / cache.MARKER).read_text())
    assert set(record["files"]) == set(written) - {cache.MARKER} and "shared_vocabulary.json" in written
    assert set(record["versions"]) == {"ctranslate2", "transformers", "torch", "peft"}  # all shape the bytes
    capsys.readouterr()
    for what, damage in DAMAGE.items():
        damage(folder)
        again = engines.load_engine("base", p, root)
        notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
        assert len(notes) == 1 and str(folder) in notes[0] and "converting it again" in notes[0], (what, notes)
        assert again.folder == folder and again.summarize(inputs) == expected, what
        assert {name: hashing.sha256(folder / name) for name in sorted(os.listdir(folder))} == written, what
    engines.load_engine("base", p, root)
    assert "note:" not in capsys.readouterr().err  # an intact conversion is used as it is, silently


def test_a_conversion_that_changes_after_its_check_is_one_message(at, tmp_path, monkeypatch):
    p, root = settings(engine="ctranslate2", compute_type="float32"), tmp_path / "engines"
    folder = engines.load_engine("base", p, root).folder
    (folder / "shared_vocabulary.json").write_bytes(b'["\xff"]')
    monkeypatch.setattr(cache, "damage", lambda folder, wanted: None)  # changed between the check and the load
    with pytest.raises(UserError, match=f"cannot load the converted model in {folder}.*run again") as error:
        engines.load_engine("base", p, root)
    assert "Traceback" not in str(error.value)


def test_a_model_folder_decoding_differently_is_refused_before_any_conversion(at, tmp_path):
    folder = shutil.copytree(at / "models/base", tmp_path / "model")
    config = json.loads((folder / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**config, "no_repeat_ngram_size": 3}))
    p = settings(engine="ctranslate2", compute_type="float32")
    with pytest.raises(ParamsError, match=f"the generation config of {folder} sets no_repeat_ngram_size") as error:
        engines.load_engine(str(folder), p, tmp_path / "engines")
    assert error.value.key == "generate.engine" and not (tmp_path / "engines").exists()
    assert engines.load_engine(str(folder), settings()).summarize(prompts()[:2])  # torch decodes it as generate() does


@pytest.mark.parametrize("library", cache.LIBRARIES)
def test_a_new_version_of_any_library_that_shapes_the_converted_bytes_changes_the_key(library, monkeypatch):
    """Found: the key omitted peft, which merges the adapter that is converted."""
    from importlib import metadata

    before = cache.key("w", "int8", cache.versions())
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "99.0" if name == library else real(name))
    assert cache.versions()[library] == "99.0" and cache.key("w", "int8", cache.versions()) != before


def test_only_this_caches_conversions_of_the_same_sources_are_removed(tmp_path):
    root = tmp_path / "engines"
    sources = [str(tmp_path / "models/lora")]

    def folder(name, record_name, **record):
        (root / name).mkdir(parents=True)
        (root / name / record_name).write_text(json.dumps(record))
        return root / name

    old_weights = folder("lora-int8-1", cache.MARKER, written_by=cache.MADE_BY, sources=sources, weights="old")
    current = folder("lora-int8-2", cache.MARKER, written_by=cache.MADE_BY, sources=sources, weights="new")
    legacy = folder("lora-int8-3", cache.LEGACY, made_by=cache.MADE_BY, sources=sources, weights="new")  # FORMAT 1
    others = folder("full-int8-4", cache.LEGACY, made_by=cache.MADE_BY, sources=["elsewhere"], weights="x")
    users = folder("mine", cache.MARKER, written_by="stages.summarize", sources=sources, weights="old")
    assert cache.remove_stale(root, sources, "new") == [old_weights, legacy]
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in (current, others, users))


@pytest.mark.parametrize("leads_to", ["../.git", "../../other/.git/objects", "full"])
def test_a_cache_folder_that_leads_into_git_or_a_pipeline_output_gets_nothing_written(leads_to, tmp_path, monkeypatch):
    """models/.engines as a link to .git: the conversion was written into .git (through no door). Its check is the
    one every command's output passes (files.target)."""
    import subprocess
    from types import SimpleNamespace

    project = tmp_path / "project"
    (project / "models/full").mkdir(parents=True)
    (project / "models/full/model.safetensors").write_text("weights")
    (tmp_path / "other/.git/objects").mkdir(parents=True)
    monkeypatch.chdir(project)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    (project / "models/.engines").symlink_to(leads_to)
    tokenizer = SimpleNamespace(get_vocab=lambda: {"a": 0}, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    before = {p for p in tmp_path.rglob("*")}
    built = []
    with pytest.raises(UserError, match="CTranslate2 cache"):
        cache.cached("full", [Path("models/full")], tokenizer, "int8", {}, built.append, Path("models/.engines"))
    assert not built and {p for p in tmp_path.rglob("*")} == before
