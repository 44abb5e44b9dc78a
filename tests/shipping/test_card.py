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
from stages.shipping import card

REPO_ID = "tester/flan-t5-dialogsum"
METRICS_OF = {"full": "full", "adapter": "lora", "merged": "lora"}
KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@pytest.fixture(scope="module")
def shipped(pipeline_run, tmp_path_factory):
    """A clone of the shared run and the folder a dry run writes for each kind."""
    root = tmp_path_factory.mktemp("card")
    repo = clone_of(pipeline_run.repo, root / "repo", push=False)  # a dry run does not look at the remote
    folders = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
        for kind, args in KINDS.items():
            folders[kind] = root / f"dry-{kind}"
            publish.main([*args, "--repo-id", REPO_ID, *CLAIMS, "--dry-run", str(folders[kind])])
    torch.set_num_threads(threads)
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
    assert data.base_model_relation == {"full": "finetune", "adapter": "adapter", "merged": "merge"}[kind]
    assert data.model_name == REPO_ID and "summarization" in data.tags
    rouge = metrics(repo, "rouge.json")[METRICS_OF[kind]]
    found = {r.metric_config: r for r in data.eval_results}
    assert sorted(found) == sorted(KEYS)
    for key, result in found.items():
        assert result.metric_value == rouge[key]
        assert (result.task_type, result.dataset_type, result.dataset_split, result.metric_type) == (
            "summarization", "knkarthick/dialogsum", "test", "rouge")
        assert result.metric_args["scoring"] == "mean_ref"
        assert result.metric_args["dialogues"] == metrics(repo, f"generate_{METRICS_OF[kind]}.json")["dialogues"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_number_on_the_card_is_a_value_of_the_run_files(shipped, kind):
    repo, folders = shipped
    text = (folders[kind] / "README.md").read_text()
    allowed = set()
    for path in (repo / "metrics").glob("*.json"):
        allowed |= set(leaves(json.loads(path.read_text())))
    allowed |= set(leaves(yaml.safe_load((repo / "params.yaml").read_text())))
    numbers = prose_numbers(text)
    assert len(numbers) > 60  # the tables are there and were read
    assert [n for n in numbers if float(n) not in allowed] == []


@pytest.mark.parametrize("kind", KINDS)
def test_tables_hold_the_scores_intervals_and_paired_tests_of_the_metrics_files(shipped, kind):
    repo, folders = shipped
    text = (folders[kind] / "README.md").read_text()
    model = METRICS_OF[kind]
    detail, paired = metrics(repo, "rouge_detail.json"), metrics(repo, "rouge_paired.json")
    names = {"base": "zero-shot base model", "full": "full fine-tuning", "lora": "LoRA", "lead3": "lead-3 baseline",
             "longest3": "longest-3 baseline"}
    for other in ("base", "full", "lora"):
        row = next(line for line in text.splitlines()
                   if line.startswith((f"| {names[other]} |", f"| **this model**: {names[other]} |")))
        assert row.startswith("| **this model**") == (other == model)
        values = [float(n) for n in re.findall(r"[-+]?\d+\.\d+(?:e-?\d+)?", row.split(names[other], 1)[1])]
        scores = detail[other]["mean_ref"]
        assert values == [scores[k + suffix] for k in KEYS for suffix in ("", "_low", "_high")]
    for pair, modes in paired.items():
        first, second = pair.split("_vs_")
        rows = [line for line in text.splitlines() if line.startswith(f"| {names[first]} − {names[second]} |")]
        assert len(rows) == (4 if model in (first, second) else 0)
        for key, row in zip(KEYS, rows):
            cells = [float(n) for n in re.findall(r"[-+]?\d+\.\d+(?:e-?\d+)?", row)]
            values = modes["mean_ref"]
            assert cells == [values[key + s] for s in ("_diff", "_low", "_high", "_p")]


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
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        namespace = {}
        exec(compile(code, "card snippet", "exec"), namespace)  # noqa: S102 - the snippet users copy, run as is
        assert capsys.readouterr().out.strip()  # it printed a summary of its example
        return [namespace["summarize"](dialogue) for dialogue in dialogues]
    finally:
        torch.set_num_threads(threads)


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


def test_a_ctranslate2_beam_search_run_publishes_and_its_snippet_gives_the_scored_summaries(pipeline_run, tiny_corpus,
                                                                                            tmp_path, capsys):
    """The run decoded by CTranslate2 (float32, 2 beams stopping early) is published like any other: the card
    names the engine, and its transformers snippet writes the summaries the evaluation scored."""
    from project import run, write_params

    repo = clone_of(pipeline_run.repo, tmp_path / "repo", push=False)
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["generate"].update(engine="ctranslate2", compute_type="float32", num_beams=2, early_stopping=True)
    write_params(repo, raw)
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "decoded by CTranslate2, 2 beams"], repo)
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
    subject = card.Subject("full", REPO_ID, card.HubRef(BASE_ID, BASE_REVISION, True),
                           card.HubRef("knkarthick/dialogsum", None, True))
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
    with pytest.raises(UserError, match="--base-model ID"):
        publish.main(["full", "--repo-id", REPO_ID, "--dataset", "knkarthick/dialogsum",
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
    text = card.sign("---\nlicense: mit\n---\n\n# x\n\n## Notes\n\n" + card.NOTES_START + "\n" + card.NOTES_END + "\n")
    assert card.state(None) == "absent"
    assert card.state(text) == "generated"
    with_notes = text.replace(card.NOTES_END, "Evaluated on our own data too.\n" + card.NOTES_END)
    assert card.state(with_notes) == "generated"  # the Notes section is the user's
    assert card.notes(with_notes) == "Evaluated on our own data too."
    assert card.state(text.replace("# x", "# y")) == "edited"
    assert card.state(text.replace("license: mit", "license: apache-2.0")) == "edited"
    assert card.state("# A card someone wrote\n") == "foreign"
    assert card.notes("# A card someone wrote\n") == ""


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
    for forged in (card.NOTES_START, card.NOTES_END, card.NOTES_END + card.NOTES_START):
        text = card.sign(head.format(forged) + f"{card.NOTES_START}\nreal notes\n{card.NOTES_END}\n")
        assert card.notes(text) == "real notes"
        assert card.state(text) == "generated"
        assert card.state(text.replace(forged, "other", 1)) == "edited"  # the forged text is outside the notes
    # notes may hold the end marker themselves: they round-trip whole
    kept = f"see below\n{card.NOTES_END}\nstill notes"
    text = card.sign(head.format("main") + f"{card.NOTES_START}\n{kept}\n{card.NOTES_END}\n")
    assert card.notes(text) == kept and card.state(text) == "generated"


@pytest.mark.parametrize("hostile", [card.NOTES_START, card.NOTES_END, card.SIGNATURE])
def test_run_text_holding_a_card_marker_is_refused(at, hostile):
    from stages.shipping import record, stale

    run_record = record.read(stale.check_committed(), False)
    ref = card.HubRef(BASE_ID, BASE_REVISION, declared=True)
    subject = card.Subject("full", REPO_ID, ref, card.HubRef("knkarthick/dialogsum", None, declared=True))
    forged = replace(run_record, params=replace(run_record.params, data=replace(
        run_record.params.data, prompt=f"Summarize {hostile}\n{{dialogue}}")))
    with pytest.raises(UserError, match="marker"):
        card.render(forged, subject)
    with pytest.raises(UserError, match="not a git branch"):
        card.render(run_record, replace(subject, base=replace(ref, revision="x\n# heading")))
    ticked = card.render(run_record, replace(subject, base=replace(ref, revision="a`b")))
    assert "revision ``a`b``" in ticked  # a backtick in a ref git takes: a longer fence, never markup
