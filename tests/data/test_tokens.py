"""A special token's spelling in a dialogue or summary is text: in prompts, in labels and in the summarize CLI,
the only special id is the tokenizer's own end-of-sequence token at the end."""
from types import SimpleNamespace

import pytest

from stages import summarize
from stages.data import dialogsum, prompts, tokens

TEMPLATE = "Summarize the following conversation.\n\n{dialogue}\n\nSummary: "
SPELLINGS = ["</s>", "<pad>", "<unk>", "<extra_id_0>"]
DIALOGUES = [f"#Person1#: type {s} there.\n#Person2#: ok{s}done" for s in SPELLINGS] + \
            ["#Person1#: </s></s><pad> <unk>x <extra_id_0>"]


@pytest.fixture(scope="module")
def tokenizer():
    """A Unigram tokenizer like tiny.py's, that knows '<', '/' and '>' (so nothing here is an unknown character)
    and, as T5's, holds '</s>', '<pad>', '<unk>' as pieces of its vocabulary, plus an added '<extra_id_0>'."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    # the characters of the spellings, never the spellings themselves (the trainer would move the specials)
    texts = [TEMPLATE, "#Person1#: type there.\n#Person2#: ok done. x", "< / > s pad unk extra_id_0 _ < >"] * 3
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=120, special_tokens=["<pad>", "</s>", "<unk>"],
                                                           unk_token="<unk>"))
    assert [tok.token_to_id(t) for t in ("<pad>", "</s>", "<unk>")] == [0, 1, 2]
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   extra_special_tokens=["<extra_id_0>"])
    assert len(fast.all_special_ids) == 4
    return fast


def only_final_eos(tokenizer, ids):
    special = set(tokenizer.all_special_ids)
    return [i for i in ids[:-1] if i in special] == [] and ids[-1] == tokenizer.eos_token_id


def test_the_plain_tokenizer_would_read_the_spellings_as_special_tokens(tokenizer):
    """The failure this module exists for: without it, each spelling is its special id."""
    for spelling in SPELLINGS:
        ids = tokenizer(f"a {spelling} b")["input_ids"]
        assert not only_final_eos(tokenizer, ids), spelling
        assert not only_final_eos(tokenizer, tokenizer(f"a {spelling} b", split_special_tokens=True)["input_ids"]) \
            or spelling == "<extra_id_0>", "split_special_tokens alone does not help a SentencePiece vocabulary"


def test_prompts_are_text_and_decode_back(tokenizer):
    encoded = prompts.encode(tokenizer, TEMPLATE, DIALOGUES, max_length=512)
    for dialogue, ids in zip(DIALOGUES, encoded.input_ids):
        assert only_final_eos(tokenizer, ids), dialogue
        assert tokenizer.decode(ids[:-1]) == prompts.build(TEMPLATE, dialogue), "no character lost"
    assert encoded.over == [0] * len(DIALOGUES)


def test_a_prompt_cut_inside_the_dialogue_is_still_text(tokenizer):
    full = prompts.encode(tokenizer, TEMPLATE, DIALOGUES, max_length=512).input_ids
    for limit in range(len(tokens.ids(tokenizer, [TEMPLATE.format(dialogue="")])[0]) + 1, max(map(len, full))):
        for ids in prompts.encode(tokenizer, TEMPLATE, DIALOGUES, max_length=limit).input_ids:
            assert len(ids) <= limit and only_final_eos(tokenizer, ids)


def test_labels_are_text_and_cut_like_truncation(tokenizer):
    rows = [{"id": f"train_{i}", "dialogue": "d", "summary": text} for i, text in enumerate(DIALOGUES)]
    table = dialogsum.tokenize(rows, tokenizer, TEMPLATE, 512, 512)
    for labels in table["labels"]:
        assert only_final_eos(tokenizer, labels)
    cut = dialogsum.tokenize(rows, tokenizer, TEMPLATE, 512, 5)
    for labels, whole, over in zip(cut["labels"], table["labels"], cut["target_over_length"]):
        assert labels == whole[:4] + [tokenizer.eos_token_id] and over == len(whole) - 5


def test_the_summarize_cli_encodes_the_same_text(tokenizer):
    cfg = SimpleNamespace(prompt=TEMPLATE, max_source_length=512)
    ids = summarize.encode(tokenizer, dict(enumerate(DIALOGUES)), cfg, strict=True)
    assert all(only_final_eos(tokenizer, row) for row in ids)


def test_plain_text_is_tokenized_as_the_tokenizer_does(tokenizer):
    texts = ["#Person1#: hello there.", "Person one and two talk about x."]
    assert tokens.ids(tokenizer, texts) == tokenizer(texts)["input_ids"]
    assert tokens.ids(tokenizer, texts, add_special_tokens=False) == \
        tokenizer(texts, add_special_tokens=False)["input_ids"]


def test_an_unknown_character_stays_unknown(tokenizer):
    ids = tokens.ids(tokenizer, ["x \u4e2d y"], add_special_tokens=False)[0]
    assert ids.count(tokenizer.unk_token_id) == 1
