"""The data's name and licence as the card states them: what prepare recorded in data/sources.json from data.name
and data.license (or a Hub dataset's card), never a DialogSum default.

A model is published under its training data's licence id, taking the cautious reading that a model is an
adaptation of its training data; the Licence section spells out the terms of the Creative Commons licences that
dialogue-summarization sets use, and `publish` warns when they forbid commercial use.
"""
import sys

# SPDX id -> (name, its terms); the CC licences dialogue-summarization data comes under
CREATIVE_COMMONS = {
    "cc-by-4.0": ("CC BY 4.0", ("Attribution",)),
    "cc-by-sa-4.0": ("CC BY-SA 4.0", ("Attribution", "ShareAlike")),
    "cc-by-nc-4.0": ("CC BY-NC 4.0", ("Attribution", "NonCommercial")),
    "cc-by-nc-sa-4.0": ("CC BY-NC-SA 4.0", ("Attribution", "NonCommercial", "ShareAlike")),
    "cc-by-nc-nd-4.0": ("CC BY-NC-ND 4.0", ("Attribution", "NonCommercial", "NoDerivatives")),
    "cc-by-nd-4.0": ("CC BY-ND 4.0", ("Attribution", "NoDerivatives")),
}
TERMS = {
    "NonCommercial": "use, share and adapt it for non-commercial purposes only.",
    "Attribution": "credit {name} and this model, link the licence, and say what you changed.",
    "ShareAlike": "share what you build from it under the same licence.",
    "NoDerivatives": "the data's licence lets no adapted material be shared; whether a model trained on it is "
                     "adapted material is yours to judge before you share it or what you build from it.",
}
UNKNOWN = "other"
DIALOGSUM_CITATION = [
    "```bibtex", "@inproceedings{chen-etal-2021-dialogsum,",
    "  title = {{DialogSum}: A Real-Life Scenario Dialogue Summarization Dataset},",
    "  author = {Chen, Yulong and Liu, Yang and Chen, Liang and Zhang, Yue},",
    "  booktitle = {Findings of the Association for Computational Linguistics: ACL-IJCNLP 2021},",
    "  year = {2021}, url = {https://aclanthology.org/2021.findings-acl.449}", "}", "```",
]


def data_license(sources: dict) -> str:
    """The licence id prepare recorded for the data; `other` where none was (then the card says so)."""
    found = (sources.get("data") or {}).get("license")
    return found.lower() if isinstance(found, str) and found.strip() else UNKNOWN


def data_name(sources: dict) -> str:
    """The data's name (data.name, or its Hub card's); else its Hub id or its folder's name, as recorded."""
    entry = sources.get("data") or {}
    title, source = entry.get("title"), entry.get("name")
    if isinstance(title, str) and title.strip():
        return title.strip()
    if isinstance(source, str) and source.strip():
        return source.rstrip("/").split("/")[-1] if entry.get("local") else source
    return "the training data"


def noncommercial(license_id: str) -> bool:
    return "-nc" in license_id.lower()


def section(sources: dict, base: str) -> list[str]:
    """The Licence section: the data's licence, carried to the model, with its terms; `base` says what licence
    the base model's weights come with."""
    name, spdx = data_name(sources), data_license(sources)
    recorded = (sources.get("data") or {}).get("license")
    cited = " (citation below)" if name == "DialogSum" else ""
    if spdx in CREATIVE_COMMONS:
        title, terms = CREATIVE_COMMONS[spdx]
        lines = [f"The training and evaluation data, {name}, is licensed {title} ({', '.join(terms)}). This model is "
                 f"trained on it and published under the same licence, `{spdx}`, taking the cautious reading that a "
                 "model is an adaptation of its training data:", "",
                 *[f"- **{term}**: {TERMS[term].format(name=name + cited)}"
                   for term in sorted(terms, key=list(TERMS).index)]]
    elif recorded:
        lines = [f"The training and evaluation data, {name}, is licensed `{spdx}`. This model is trained on it and "
                 f"published under the same licence id, taking the cautious reading that a model is an adaptation "
                 "of its training data: read that licence's terms before you use or share it."]
    else:
        lines = [f"The licence of the training and evaluation data, {name}, was not recorded (set `data.license` in "
                 "params.yaml and rerun `dvc repro prepare`): the card says `other`. Find out the data's terms "
                 "before you use or share this model."]
    lines += ["", f"The base model's weights come with {base}."]
    if name == "DialogSum":
        lines += ["", *DIALOGSUM_CITATION]
    return lines


def warn(sources: dict) -> bool:
    """A warning in words when the data forbids commercial use (what is trained on it does too); returns it."""
    spdx = data_license(sources)
    if noncommercial(spdx):
        print(f"warning: the training data, {data_name(sources)}, is licensed {spdx}, which forbids commercial use: "
              "this model is published under it, and nobody may use it commercially. Train on data you may use "
              "commercially (data.source, docs/data.md) for a model that can be.", file=sys.stderr)
        return True
    return False
