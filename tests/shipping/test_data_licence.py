"""The card's licence, datasets and scores' name come from the data the run read (data.name, data.license in
data/sources.json), never a DialogSum default; publish warns in words when that licence is non-commercial."""
from dataclasses import replace

import pytest
from huggingface_hub import ModelCard

from publishing import BASE_ID, BASE_REVISION, clone_of
from stages import publish
from stages.io.errors import UserError
from stages.shipping import card, licence, record, subjects


@pytest.fixture(scope="module")
def run_record(pipeline_run, tmp_path_factory):
    repo = clone_of(pipeline_run.repo, tmp_path_factory.mktemp("licence") / "repo", push=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
        return record.read("0" * 40, False)


OWN = {"name": "/data/support", "local": True, "title": "Support chats", "license": "other"}
SAMSUM = {"name": "knkarthick/samsum", "revision": "main", "sha": "a" * 40, "title": "SAMSum",
          "license": "cc-by-nc-nd-4.0"}
CASES = {
    "a CSV of one's own, on no Hub": (OWN, "none", "other", None, "Support chats", False),
    "SAMSum from the Hub": (SAMSUM, None, "cc-by-nc-nd-4.0", ["knkarthick/samsum"], "SAMSum", True),
    "a run whose licence was not recorded": ({"name": "/data/x", "local": True}, "org/x", "other", ["org/x"], "x",
                                             False),
}


@pytest.mark.parametrize("case", CASES)
def test_the_card_states_the_runs_data_and_licence(run_record, case, capsys):
    data, claim, spdx, datasets, name, warned = CASES[case]
    sources = {**run_record.sources, "data": data}
    dataset = publish.hub_ref(data, claim, "--dataset", "data.source", "knkarthick/dialogsum")
    subject = subjects.Subject("full", "tester/chats", subjects.HubRef(BASE_ID, BASE_REVISION, True), dataset)
    text = card.render(replace(run_record, sources=sources), subject)
    meta = ModelCard(text).data
    assert (meta.license, meta.datasets) == (spdx, datasets)
    assert {r.dataset_name for r in meta.eval_results} == {f"{name} test (all 6 dialogues)"}
    assert not any(said in text for said in ("on DialogSum", "DialogSum test", "credit DialogSum", "chen-etal-2021"))
    assert "dialogsum" not in meta.tags and f"trained on {name}" in text
    section = text.split("## Licence")[1].split("## Provenance")[0]
    if spdx == "cc-by-nc-nd-4.0":
        assert "CC BY-NC-ND 4.0 (Attribution, NonCommercial, NoDerivatives)" in section and "yours to judge" in section
    elif "license" in data:
        assert "is licensed `other`" in section
    else:
        assert "was not recorded (set `data.license`" in section
    assert licence.warn(sources) == warned
    said = capsys.readouterr().err
    assert ("forbids commercial use" in said) == warned
    assert not warned or "SAMSum, is licensed cc-by-nc-nd-4.0" in said


def test_dataset_none_is_only_for_a_local_folder_and_the_refusal_says_so():
    with pytest.raises(UserError, match="--dataset none for data of your own"):
        publish.hub_ref(OWN, None, "--dataset", "data.source", "knkarthick/dialogsum")
    with pytest.raises(UserError, match="not a Hub id|--dataset"):
        publish.hub_ref(SAMSUM, "none", "--dataset", "data.source", "knkarthick/dialogsum")
