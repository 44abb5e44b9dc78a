"""The model card and the folder `python -m stages.publish --dry-run` writes, from the shared tiny run: metadata
that huggingface_hub parses back, every number equal to the run's files, a usage snippet that runs and gives the
pipeline's summaries, and a --dry-run target that never replaces a user's folder."""
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import ModelCard

from publishing import BASE_ID, BASE_REVISION, CLAIMS, KINDS, clone_of
from stages import publish
from stages.io.errors import UserError
from stages.shipping import card, claim, signature, subjects

REPO_ID = "tester/flan-t5-dialogsum"
METRICS_OF = {"full": "full", "adapter": "lora", "merged": "lora"}
KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@pytest.fixture(scope="module")
def shipped(pipeline_run, tmp_path_factory):
    """A clone of the shared run and the folder a dry run writes for each kind."""
    root = tmp_path_factory.mktemp("card")
    repo = clone_of(pipeline_run.repo, root / "repo", push=False)  # a dry run does not look at the remote
    folders = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
        for kind, args in KINDS.items():
            folders[kind] = root / f"dry-{kind}"
            publish.main([*args, "--repo-id", REPO_ID, *CLAIMS, "--dry-run", str(folders[kind])])
    return repo, folders


@pytest.fixture
def at(shipped, monkeypatch):
    monkeypatch.chdir(shipped[0])
    return shipped[0]


def metrics(repo: Path, name: str) -> dict:
    return json.loads((repo / "metrics" / name).read_text())


def leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield float(value)


def section(text: str, start: str, end: str) -> str:
    return start + text.split(start, 1)[1].split(end, 1)[0]


def from_the_card(text: str) -> str:
    """The card without what it shows as metrics/report.md does (the notes, the paired tests: written by the
    report's own functions and compared with the report's text in their own test)."""
    for start, end in (("## Read this first", "## Results"), ("### Paired differences", "This model in the other")):
        if start in text:
            text = text.replace(section(text, start, end), "")
    return text


def prose_numbers(text: str) -> list[str]:
    """Every number a reader sees outside code, comments, inline code (hashes, names) and licence names."""
    body = text.split("\n---\n", 1)[1]
    body = re.sub(r"```.*?```", "", body, flags=re.S)
    body = re.sub(r"<!--.*?-->", "", body, flags=re.S)
    body = re.sub(r"`[^`\n]*`", "", body)
    for name in ("CC BY-NC-SA 4.0", "Apache 2.0"):
        body = body.replace(name, "")
    return re.findall(r"(?<![\w\-.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?!\w)(?!\.\d)", body)


@pytest.mark.parametrize("kind", KINDS)
def test_metadata_parses_back_and_its_scores_are_the_metrics_files(shipped, kind):
    repo, folders = shipped
    text = (folders[kind] / "README.md").read_text()
    loaded = ModelCard.load(folders[kind] / "README.md")
    data = loaded.data
    assert data.to_dict() == yaml.safe_load(text.split("---\n")[1])  # nothing lost or added by the parser
    assert (data.base_model, data.datasets, data.license, data.language, data.pipeline_tag) == (
        BASE_ID, ["knkarthick/dialogsum"], "cc-by-nc-sa-4.0", "en", "summarization")
    assert data.library_name == ("peft" if kind == "adapter" else "transformers")
    assert data.base_model_relation == {"full": "finetune", "adapter": "adapter", "merged": "finetune"}[kind]
    assert data.model_name == REPO_ID and "summarization" in data.tags
    rouge = metrics(repo, "rouge.json")[METRICS_OF[kind]]
    found = {r.metric_config: r for r in data.eval_results}
    assert sorted(found) == sorted(KEYS)
    for key, result in found.items():
        assert result.metric_value == rouge[key]
        assert (result.task_type, result.dataset_type, result.dataset_split, result.metric_type) == (
            "summarization", "knkarthick/dialogsum", "test", "rouge")
        assert result.metric_args["scoring"] == "mean_ref"
        scored = metrics(repo, f"generate_{METRICS_OF[kind]}.json")["dialogues"]
        assert result.metric_args["dialogues"] == scored
        total = json.loads((repo / "data/sources.json").read_text())["dialogues"]["test"]
        assert total == scored == 6  # the tiny corpus's test split, all of it
        assert result.dataset_name == "DialogSum test (all 6 dialogues)"  # the share of the split, with the score


@pytest.mark.parametrize("kind", KINDS)
def test_every_number_on_the_card_is_a_value_of_the_run_files(shipped, kind):
    repo, folders = shipped
    text = (folders[kind] / "README.md").read_text()
    allowed = set()
    for path in (repo / "metrics").glob("*.json"):
        allowed |= set(leaves(json.loads(path.read_text())))
    allowed |= set(leaves(yaml.safe_load((repo / "params.yaml").read_text())))
    allowed |= set(leaves(json.loads((repo / "data/sources.json").read_text())))
    numbers = prose_numbers(from_the_card(text))
    assert len(numbers) > 60  # the tables are there and were read
    assert [n for n in numbers if float(n) not in allowed] == []


@pytest.mark.parametrize("kind", KINDS)
def test_tables_hold_the_scores_intervals_and_paired_tests_of_the_metrics_files(shipped, kind):
    repo, folders = shipped
    text = (folders[kind] / "README.md").read_text()
    model = METRICS_OF[kind]
    detail, paired = metrics(repo, "rouge_detail.json"), metrics(repo, "rouge_paired.json")
    names = {"base": "base model before training (random weights)", "full": "full fine-tuning", "lora": "LoRA",
             "lead3": "lead-3 baseline",
             "longest3": "longest-3 baseline"}
    for other in ("base", "full", "lora"):
        row = next(line for line in text.splitlines()
                   if line.startswith((f"| {names[other]} |", f"| **this model**: {names[other]} |")))
        assert row.startswith("| **this model**") == (other == model)
        values = [float(n) for n in re.findall(r"[-+]?\d+\.\d+(?:e-?\d+)?", row.split(names[other], 1)[1])]
        scores = detail[other]["mean_ref"]
        assert values == [scores[k + suffix] for k in KEYS for suffix in ("", "_low", "_high")]
    report = (repo / "metrics/report.md").read_text()
    paired_here = section(text, "### Paired differences", "\n\nThis model in the other").split("\n", 1)[1]
    assert paired_here == section(report, "## Paired differences", "\n\n## Examples").split("\n", 1)[1]
    assert "p (Holm)" in paired_here and "not the test" in paired_here  # the report's rule, in its words
    rows = [line for line in paired_here.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(paired) * len(KEYS)  # the header and a row per test
    if "## Read this first" in report:  # the notes (degenerate output, the baselines) as the report has them
        assert section(text, "## Read this first", "## Results") == section(report, "## Read this first", "## ")


def snippet(text: str) -> str:
    return next(block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "def summarize" in block)


def snippet_summaries(readme: Path, folder: Path, repo: Path, kind: str, dialogues: list[str], capsys) -> list[str]:
    """Run the card's snippet as a user would, on the dry-run `folder` instead of the Hub repo (and the run's
    models/base for the Hub's base model): its summaries of `dialogues`."""
    code = snippet(readme.read_text())
    assert f"REPO = {REPO_ID!r}" in code
    code = code.replace(f"REPO = {REPO_ID!r}", f"REPO = {str(folder)!r}")
    if kind == "adapter":  # the Hub's flan-t5-base is the tiny model's stand-in here
        assert f"BASE = {BASE_ID!r}" in code and f"BASE_REVISION = {BASE_REVISION!r}" in code
        code = code.replace(f"BASE = {BASE_ID!r}", f"BASE = {str(repo / 'models/base')!r}")
    else:
        assert "peft" not in code  # a standalone model loads with transformers alone
    namespace = {}
    exec(compile(code, "card snippet", "exec"), namespace)  # noqa: S102 - the snippet users copy, run as is
    assert capsys.readouterr().out.strip()  # it printed a summary of its example
    return [namespace["summarize"](dialogue) for dialogue in dialogues]


def scored(repo: Path, model: str, corpus: Path, count: int = 3) -> tuple[list[str], list[str]]:
    """(dialogues, the summaries data/predictions/<model>.jsonl scored for them): `count` distinct test dialogues."""
    predictions = {json.loads(line)["id"]: json.loads(line)["prediction"]
                   for line in (repo / f"data/predictions/{model}.jsonl").read_text().splitlines()}
    rows = [json.loads(line) for line in (corpus / "test.jsonl").read_text().splitlines()][::3][:count]
    return [row["dialogue"] for row in rows], [predictions[row["id"]] for row in rows]


@pytest.mark.parametrize("kind", KINDS)
def test_the_usage_snippet_runs_on_the_folder_and_gives_the_pipelines_summaries(shipped, kind, tiny_corpus,
                                                                              capsys):
    repo, folders = shipped
    dialogues, expected = scored(repo, METRICS_OF[kind], tiny_corpus)
    assert sum(map(bool, expected)) >= 2  # summaries with words: the comparison means something
    assert snippet_summaries(folders[kind] / "README.md", folders[kind], repo, kind, dialogues, capsys) == expected


def test_a_ctranslate2_beam_search_run_publishes_and_its_snippet_gives_the_scored_summaries(decoded_again,
                                                                                            tiny_corpus, tmp_path,
                                                                                            capsys):
    """The run decoded by CTranslate2 (float32, 2 beams stopping early; conftest.py's decoded_again, whose
    summaries are also cut at 3 tokens) is published like any other: the card names the engine, and its
    transformers snippet writes the summaries the evaluation scored."""
    repo = decoded_again.repo
    assert metrics(repo, "generate_lora.json")["engine"] == "ctranslate2"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
        for kind in ("full", "adapter"):
            folder = tmp_path / f"dry-{kind}"
            publish.main([*KINDS[kind], "--repo-id", REPO_ID, *CLAIMS, "--dry-run", str(folder)])
            text = (folder / "README.md").read_text()
            assert "by CTranslate2 in `float32`" in text and "early_stopping=True" in snippet(text)
            dialogues, expected = scored(repo, METRICS_OF[kind], tiny_corpus)
            assert sum(map(bool, expected)) >= 2
            assert snippet_summaries(folder / "README.md", folder, repo, kind, dialogues, capsys) == expected


@pytest.mark.parametrize("generated, words", [
    ({"engine": "ctranslate2", "compute_type": "int8"}, ["by CTranslate2 in `int8`", "`int8` rounds the weights"]),
    ({"engine": "ctranslate2", "compute_type": "float32"}, ["by CTranslate2 in `float32`", "gives the same summaries"]),
    ({"engine": "torch", "precision": "bf16"}, ["in `bf16`", "to(torch.bfloat16)"]),
    ({"precision": "fp32"}, ["in `fp32`", "to(torch.float32)"]),  # written before there was a choice of engine
])
def test_the_card_names_how_each_run_decoded(at, generated, words):
    from dataclasses import replace

    from stages.shipping import record

    run = record.read("0" * 40, False)
    run = replace(run, generate={m: {**{k: v for k, v in run.generate[m].items()
                                        if k not in ("engine", "precision", "compute_type")}, **generated}
                                 for m in run.generate})
    subject = subjects.Subject("full", REPO_ID, subjects.HubRef(BASE_ID, BASE_REVISION, True),
                           subjects.HubRef("knkarthick/dialogsum", None, True))
    text = card.render(run, subject)
    assert all(w in text for w in words), text.split("## Use")[1][:900]
    if "engine" in generated:
        without = replace(run, generate={m: {k: v for k, v in g.items() if k not in ("precision", "compute_type")}
                                         for m, g in run.generate.items()})
        with pytest.raises(UserError, match="lack .*dvc repro -f"):
            card.render(without, subject)  # metrics without them: one message


def test_the_folders_hold_safetensors_the_tokenizer_and_the_card_only(shipped):
    repo, folders = shipped
    tokenizer = ["tokenizer.json", "tokenizer_config.json"]
    assert sorted(p.name for p in folders["full"].iterdir()) == sorted(
        ["README.md", "config.json", "generation_config.json", "model.safetensors", *tokenizer])
    assert sorted(p.name for p in folders["adapter"].iterdir()) == sorted(
        ["README.md", "adapter_config.json", "adapter_model.safetensors", *tokenizer])
    assert {"config.json", "model.safetensors", *tokenizer} <= {p.name for p in folders["merged"].iterdir()}
    for folder in folders.values():
        assert not [p for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]
        for name in tokenizer:  # the tokenizer every stage used
            assert (folder / name).read_bytes() == (repo / "models/base" / name).read_bytes()
    assert (folders["full"] / "model.safetensors").read_bytes() == (repo / "models/full/model.safetensors").read_bytes()
    adapter = json.loads((folders["adapter"] / "adapter_config.json").read_text())
    assert (adapter["base_model_name_or_path"], adapter["revision"]) == (BASE_ID, BASE_REVISION)
    original = json.loads((repo / "models/lora/adapter_config.json").read_text())
    assert original["base_model_name_or_path"] == "models/base"  # the pipeline's own file is left as it was
    assert {k: v for k, v in adapter.items() if k not in ("base_model_name_or_path", "revision")} == {
        k: v for k, v in original.items() if k not in ("base_model_name_or_path", "revision")}


def test_the_card_names_the_commit_and_the_dvc_lock_hashes(shipped):
    repo, folders = shipped
    import subprocess
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    text = (folders["adapter"] / "README.md").read_text()
    assert f"git commit `{head}`" in text
    outs = {out["path"]: out["md5"] for stage in lock.values() for out in stage.get("outs", [])}
    for path in ("data/prepared", "models/base", "models/lora", "data/predictions/lora.jsonl"):
        assert f"`{path}`: `{outs[path]}`" in text
    assert "models/full" not in text.split("## Provenance")[1].split("## Notes")[0]
    assert "CC BY-NC-SA 4.0" in text and "NonCommercial" in text and "ShareAlike" in text


def test_a_local_base_model_or_corpus_needs_its_hub_id(at, tmp_path):
    with pytest.raises(UserError, match="--base-model ID"):  # an adapter for a base on no Hub: nobody could load it
        publish.main(["lora", "--repo-id", REPO_ID, "--dataset", "knkarthick/dialogsum",
                      "--dry-run", str(tmp_path / "a")])
    with pytest.raises(UserError, match="--dataset ID"):
        publish.main(["full", "--repo-id", REPO_ID, "--base-model", BASE_ID, "--dry-run", str(tmp_path / "b")])
    with pytest.raises(UserError, match="not a valid Hub repo id"):
        publish.main(["full", "--repo-id", REPO_ID, "--base-model", "google/flan t5", "--dataset", "x/y",
                      "--dry-run", str(tmp_path / "c")])
    for bad in ("flan-t5-dialogsum", "tester/has space", "tester/a--b", "tester/" + "x" * 100):
        with pytest.raises(UserError, match="--repo-id"):
            publish.main(["full", "--repo-id", bad, *CLAIMS, "--dry-run", str(tmp_path / "d")])
    with pytest.raises(UserError, match="--merged"):
        publish.main(["full", "--merged", "--repo-id", REPO_ID, *CLAIMS, "--dry-run", str(tmp_path / "e")])
    assert not any(tmp_path.iterdir())  # every refusal came before anything was written


def test_the_dry_run_folder_replaces_only_its_own_earlier_output(at, tmp_path):
    target = tmp_path / "out"
    args = ["full", "--repo-id", REPO_ID, *CLAIMS, "--dry-run", str(target)]
    publish.main(args)
    first = sorted(p.name for p in target.iterdir())
    publish.main(args)  # its own output: replaced
    assert sorted(p.name for p in target.iterdir()) == first

    # a file of the folder's own names, edited by hand: the user's now (its name proves nothing)
    config = target / "config.json"
    config.write_text(config.read_text().replace("{", '{"my_setting": 1, ', 1))
    with pytest.raises(UserError, match="--force"):
        publish.main(args)
    assert "my_setting" in config.read_text()
    publish.main([*args, "--force"])
    assert "my_setting" not in config.read_text()
    (target / "tokenizer.json").unlink()  # removed: also not as written
    with pytest.raises(UserError, match="--force"):
        publish.main(args)
    publish.main([*args, "--force"])

    readme = target / "README.md"
    readme.write_text(readme.read_text().replace("## Limitations", "## Limitations\n\nmy own words"))
    with pytest.raises(UserError, match="--force"):
        publish.main(args)  # a card edited by hand is the user's now
    assert "my own words" in readme.read_text()
    publish.main([*args, "--force"])
    assert "my own words" not in readme.read_text()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(UserError, match="--force"):
        publish.main([*args[:-1], str(mine)])
    assert (mine / "thesis.tex").read_text() == "years of work"
    with pytest.raises(UserError, match="pipeline's output"):
        publish.main([*args[:-1], "metrics/card"])
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        publish.main([*args[:-1], str(tmp_path / "afile")])


def test_signature_tells_generated_edited_and_foreign_cards_apart_and_notes_survive():
    text = signature.sign("---\nlicense: mit\n---\n\n# x\n\n## Notes\n\n" + signature.NOTES_START + "\n" + signature.NOTES_END + "\n")
    assert signature.state(None) == "absent"
    assert signature.state(text) == "generated"
    with_notes = text.replace(signature.NOTES_END, "Evaluated on our own data too.\n" + signature.NOTES_END)
    assert signature.state(with_notes) == "generated"  # the Notes section is the user's
    assert signature.notes(with_notes) == "Evaluated on our own data too."
    assert signature.state(text.replace("# x", "# y")) == "edited"
    assert signature.state(text.replace("license: mit", "license: apache-2.0")) == "edited"
    assert signature.state("# A card someone wrote\n") == "foreign"
    assert signature.notes("# A card someone wrote\n") == ""


def test_hub_sources_are_named_as_the_run_read_them_and_a_contradicting_claim_is_refused():
    sha = "a" * 40
    read = {"name": "google/flan-t5-base", "revision": "main", "sha": sha}
    ref = publish.hub_ref(read, None, "--base-model", "model.name", "x/y")
    assert (ref.id, ref.revision, ref.declared) == ("google/flan-t5-base", sha, False)
    assert publish.hub_ref(read, f"google/flan-t5-base@{sha}", "--base-model", "model.name", "x/y") == ref
    for claim in ("google/flan-t5-large", f"google/flan-t5-base@{'b' * 40}"):
        with pytest.raises(UserError, match="not what the run read"):
            publish.hub_ref(read, claim, "--base-model", "model.name", "x/y")
    unresolved = publish.hub_ref({"name": "knkarthick/dialogsum", "revision": "main", "sha": None}, None,
                                 "--dataset", "data.source", "x/y")
    assert unresolved.revision == "main"  # offline when prepare ran: the branch name, as recorded


HOSTILE_REVISIONS = ["<img src=x onerror=alert(1)>", "x\n## Pwned", "javascript:alert(1)", "a b",
                     "<!-- end of notes -->", "main\x1b[2J", "a..b", "x" * 300, ""]


@pytest.mark.parametrize("revision", HOSTILE_REVISIONS)
@pytest.mark.parametrize("option", ["--base-model", "--dataset"])
def test_a_revision_that_is_no_git_ref_or_hash_is_refused_before_it_reaches_the_card(option, revision):
    with pytest.raises(UserError, match="not a git branch or tag name or a commit hash") as error:
        publish.hub_ref({"local": True}, f"google/flan-t5-base@{revision}", option, "model.name", "x/y")
    assert "\n" not in str(error.value).replace("\\n", "")  # the revision is quoted, not written out raw
    recorded = {"name": "google/flan-t5-base", "revision": revision or "@", "sha": None}
    with pytest.raises(UserError, match="data/sources.json"):  # nor from a hand-edited record of the run
        publish.hub_ref(recorded, None, option, "model.name", "x/y")


def test_a_forged_notes_marker_earlier_in_a_card_neither_opens_nor_closes_its_notes():
    """A card an older version wrote with a revision holding a marker: later publishes kept the forged text."""
    head = "---\nlicense: mit\n---\n\n# x\n\n- base model: `google/flan-t5-base` at revision `{}`\n\n## Notes\n\n"
    for forged in (signature.NOTES_START, signature.NOTES_END, signature.NOTES_END + signature.NOTES_START):
        text = signature.sign(head.format(forged) + f"{signature.NOTES_START}\nreal notes\n{signature.NOTES_END}\n")
        assert signature.notes(text) == "real notes"
        assert signature.state(text) == "generated"
        assert signature.state(text.replace(forged, "other", 1)) == "edited"  # the forged text is outside the notes
    # notes may hold the end marker themselves: they round-trip whole
    kept = f"see below\n{signature.NOTES_END}\nstill notes"
    text = signature.sign(head.format("main") + f"{signature.NOTES_START}\n{kept}\n{signature.NOTES_END}\n")
    assert signature.notes(text) == kept and signature.state(text) == "generated"


@pytest.mark.parametrize("hostile", [signature.NOTES_START, signature.NOTES_END, signature.SIGNATURE])
def test_run_text_holding_a_card_marker_is_refused(at, hostile):
    from stages.shipping import record, stale

    run_record = record.read(stale.check_committed(), False)
    ref = subjects.HubRef(BASE_ID, BASE_REVISION, declared=True)
    subject = subjects.Subject("full", REPO_ID, ref, subjects.HubRef("knkarthick/dialogsum", None, declared=True))
    forged = replace(run_record, params=replace(run_record.params, data=replace(
        run_record.params.data, prompt=f"Summarize {hostile}\n{{dialogue}}")))
    with pytest.raises(UserError, match="marker"):
        card.render(forged, subject)
    with pytest.raises(UserError, match="not a git branch"):
        card.render(run_record, replace(subject, base=replace(ref, revision="x\n# heading")))
    ticked = card.render(run_record, replace(subject, base=replace(ref, revision="a`b")))
    assert "revision ``a`b``" in ticked  # a backtick in a ref git takes: a longer fence, never markup


def test_a_base_built_from_random_weights_is_named_so_with_its_size_in_the_first_lines(shipped, tiny_model):
    repo, folders = shipped
    scratch = json.loads((tiny_model / "scratch.json").read_text())
    recorded = json.loads((repo / "data/sources.json").read_text())["model"]
    assert recorded["built"] == {"weights": "random", "parameters": scratch["parameters"], "seed": 0}
    assert scratch["parameters"] == sum(p.numel() for p in __import__("transformers").AutoModelForSeq2SeqLM
                                        .from_pretrained(str(tiny_model)).parameters())
    for kind, folder in folders.items():
        text = (folder / "README.md").read_text()
        first = text.split("\n---\n", 1)[1].strip().split("\n\n")[1]  # the paragraph under the title
        assert "built from random weights" in first and f"T5 of {scratch['parameters']} parameters" in first
        # the Hub id given for it is the publisher's word until a publish checks it: said so, where it is named
        assert "(as the publisher declared it; not verified)" in text and "**not verified**" in text
        assert "base model before training (random weights)" in text  # its zero-shot row, named as what it is


def test_without_a_claim_a_random_base_is_no_hub_model_and_its_adapter_cannot_be_published(at, tmp_path):
    publish.main(["full", "--repo-id", REPO_ID, "--dataset", "knkarthick/dialogsum", "--dry-run", str(tmp_path / "f")])
    text = (tmp_path / "f" / "README.md").read_text()
    data = ModelCard.load(tmp_path / "f" / "README.md").data
    assert data.base_model is None and getattr(data, "base_model_relation", None) is None  # no Hub model to name
    assert "google/flan-t5" not in text and "Apache" not in text
    assert "on no Hub" in text.split("## Provenance")[1]
    with pytest.raises(UserError, match="lora --merged"):
        publish.main(["lora", "--repo-id", REPO_ID, "--dataset", "knkarthick/dialogsum", "--dry-run",
                      str(tmp_path / "a")])
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("limit, scored, total, said", [
    (None, 500, 500, "DialogSum test (all 500 dialogues)"),
    (100, 100, 500, "DialogSum test (100 of 500 dialogues)"),
    (1000, 500, 500, "DialogSum test (all 500 dialogues)"),  # a limit above the split's size keeps it all
    (100, 100, None, "DialogSum test (100 dialogues (a subsample))"),  # prepared before sizes were recorded
    (None, 7, None, "DialogSum test (7 dialogues)"),
])
def test_the_subsample_is_stated_with_the_scores(at, limit, scored, total, said):
    from stages.shipping import record

    run = record.read("0" * 40, False)
    run = replace(run, params=replace(run.params, data=replace(run.params.data, max_test_samples=limit)),
                  generate={m: {**g, "dialogues": scored} for m, g in run.generate.items()},
                  sources={**run.sources, "dialogues": {"test": total}})
    assert subjects.scored_on(run, "lora") == said
    subject = subjects.Subject("adapter", REPO_ID, subjects.HubRef(BASE_ID, BASE_REVISION, True),
                           subjects.HubRef("knkarthick/dialogsum", None, True))
    text = card.render(run, subject)
    assert {r.dataset_name for r in card.metadata(run, subject).eval_results} == {said}
    assert f"ROUGE F-measures on {said}." in text


def test_a_hand_edited_random_weights_record_is_refused(at):
    from stages.shipping import record

    run = record.read("0" * 40, False)
    for bad in ({"weights": "random", "parameters": "many", "seed": 0}, "random", {"weights": "random"}):
        with pytest.raises(UserError, match="model.built"):
            record.built({**run.sources, "model": {**run.sources["model"], "built": bad}})


def test_every_adapter_or_merged_folder_the_project_writes_carries_its_card_not_peft_template(at, tmp_path):
    """models/lora (what train_lora writes and the registry hands out as it is) and `summarize export`."""
    from stages import summarize

    for path, words in ((at / "models/lora/README.md", ["# LoRA adapter", "base_model.json"]),):
        text = path.read_text()
        assert "More Information Needed" not in text and all(w in text for w in words)
        assert "built from random weights" in text and "library_name: peft" in text
    summarize.main(["export", "--adapter", "models/lora", "--out", str(tmp_path / "merged")])
    text = (tmp_path / "merged" / "README.md").read_text()
    assert "merged" in text and "built from random weights" in text and "More Information Needed" not in text
    assert ModelCard.load(tmp_path / "merged" / "README.md").data.library_name == "transformers"


def _hashes(data: bytes) -> dict:
    import hashlib

    return {"sha256": hashlib.sha256(data).hexdigest(),
            "git": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}


def _lfs(data: bytes) -> dict:
    return {"sha256": _hashes(data)["sha256"], "git": "0" * 40}  # an LFS file's blob id is its pointer's


def _blob(data: bytes) -> dict:
    return {"sha256": None, "git": _hashes(data)["git"]}


W, C = "model.safetensors", "config.json"


@pytest.mark.parametrize("local, hub, found", [
    ({W: _hashes(b"w"), C: _hashes(b"c")}, {W: _lfs(b"w"), C: _blob(b"c"), "README.md": _blob(b"r")}, []),
    ({W: _hashes(b"w"), "scratch.json": _hashes(b"s")}, {W: _lfs(b"w")}, []),  # a file of the local folder alone
    ({W: _hashes(b"w")}, {W: _lfs(b"other")}, ["model.safetensors differs"]),
    ({W: _hashes(b"w"), C: _hashes(b"c")}, {W: _lfs(b"w"), C: _blob(b"edited")}, ["config.json differs"]),
    ({W: _hashes(b"w")}, {"model-00001-of-00002.safetensors": _lfs(b"w")}, ["model.safetensors is not in that commit"]),
    ({W: _hashes(b"w")}, {W: {"sha256": None, "git": None}}, ["the Hub gives no hash of model.safetensors"]),
    ({C: _hashes(b"c")}, {C: _blob(b"c")}, ["the folder prepare read held no .safetensors weights to compare"]),
    ({W: _hashes(b"w")}, {W: _blob(b"w")}, []),  # a weight file the Hub keeps out of LFS: its blob id
])
def test_a_claimed_hub_identity_is_the_hub_files_or_says_what_differs(local, hub, found):
    assert claim.differences(local, hub) == found


def test_a_claim_for_a_run_prepared_before_file_hashes_were_recorded_asks_for_prepare():
    with pytest.raises(UserError, match="dvc repro prepare"):
        claim.verify(None, subjects.HubRef(BASE_ID, BASE_REVISION, True), {"name": "/models/x", "local": True})


def test_a_hub_base_is_named_as_prepare_read_it_and_a_verified_claim_as_checked(at):
    from stages.shipping import record

    run = record.read("0" * 40, False)
    hub_run = replace(run, sources={**run.sources, "model": {"name": BASE_ID, "revision": "main", "sha": BASE_REVISION}})
    dataset = subjects.HubRef("knkarthick/dialogsum", None, True)
    for sources_run, base, words in (
            (hub_run, subjects.HubRef(BASE_ID, BASE_REVISION, False), "(read from the Hub by prepare"),
            (run, subjects.HubRef(BASE_ID, BASE_REVISION, True, verified=True), "(the run read a local copy; publishing checked that its files")):
        text = card.render(sources_run, subjects.Subject("adapter", REPO_ID, base, dataset))
        provenance = text.split("## Provenance")[1]
        assert f"- base model: `{BASE_ID}` at revision `{BASE_REVISION}` {words}" in provenance
        assert "not verified" not in text
        assert ("built from random weights" in text) == (sources_run is run)  # the record, not the claim, says so


@pytest.mark.parametrize("written, carried", [
    ({"weights": "random", "parameters": 10, "seed": 0, "shape": {}}, {"weights": "random", "parameters": 10, "seed": 0}),
    ({"weights": "random", "parameters": -1, "seed": 0}, None),
    ({"weights": "random", "parameters": True, "seed": 0}, None),
    ({"weights": "pretrained", "parameters": 10, "seed": 0}, None),
    (["random"], None),
    ("not json {", None),
])
def test_prepare_carries_only_a_well_formed_random_weights_record(tmp_path, written, carried):
    from stages.data import sources

    (tmp_path / "scratch.json").write_text(written if isinstance(written, str) else json.dumps(written))
    assert sources.built(tmp_path) == carried
