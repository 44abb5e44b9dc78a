"""Data text as token ids: a special token's spelling inside a dialogue or summary is text, never that token.

A dialogue may well contain "</s>", "<pad>", "<unk>" or "<extra_id_0>" (a chat log about HTML, a paste of model
output). Tokenized as is, each becomes the EOS, PAD, UNK or sentinel id: the prompt then ends mid-dialogue for the
model, and a label holding EOS teaches it to stop there. transformers' split_special_tokens=True stops the
tokenizer matching added special tokens in the text, but a SentencePiece vocabulary (T5's) holds "</s>" as a
piece of its own, which the Unigram model still picks. So any special id that comes from the text is tokenized
again, piece by piece, until no special token remains; unknown characters stay <unk>, as everywhere.
"""
from dataclasses import dataclass

from ..io.errors import UserError


@dataclass(frozen=True)
class Tokens:
    """One text's ids: the tokenizer's own special tokens around it (`head`, `tail`; T5: no head, a final
    </s>) and the text's tokens with the character offset where each ends."""
    head: list[int]
    body: list[int]
    ends: list[int]
    tail: list[int]

    def ids(self, max_length: int | None = None) -> list[int]:
        """All ids; with max_length, the text's tokens cut so that the whole fits (the special tokens stay)."""
        keep = len(self.body) if max_length is None else max(max_length - len(self.head) - len(self.tail), 0)
        return self.head + self.body[:keep] + self.tail


def encode(tokenizer, texts: list[str], add_special_tokens: bool = True) -> list[Tokens]:
    """Each text tokenized as text (see above)."""
    texts = list(texts)
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"the tokenizer {type(tokenizer).__name__} is not backed by the tokenizers library (no "
                        "tokenizer.json), so where each token comes from in the text is unknown; use the model's "
                        "published tokenizer.json, or a model that has one.")
    # verbose=False: a long text is cut by the callers, who say so themselves.
    encoded = tokenizer(texts, add_special_tokens=add_special_tokens, split_special_tokens=True,
                        return_offsets_mapping=True, verbose=False)
    special = set(tokenizer.all_special_ids)
    out = []
    for text, encoding in zip(texts, encoded.encodings):
        row, offsets, sequence = encoding.ids, encoding.offsets, encoding.sequence_ids
        # the text's tokens lie between those the tokenizer's template adds (sequence id None)
        start = sequence.index(0) if 0 in sequence else len(row)
        stop = len(sequence) - sequence[::-1].index(0) if 0 in sequence else start
        body, ends = row[start:stop], [end for _, end in offsets[start:stop]]
        if not special.isdisjoint(body):
            body, ends = _repaired(tokenizer, text, body, offsets[start:stop], special)
        out.append(Tokens(row[:start], body, ends, row[stop:]))
    return out


def _repaired(tokenizer, text: str, body: list[int], offsets, special: set[int]) -> tuple[list[int], list[int]]:
    """The text's tokens with every special id read from the text tokenized again as text."""
    ids, ends = [], []
    for token, (start, end) in zip(body, offsets):
        pieces = [(token, end - start)]
        if _from_text(tokenizer, token, text[start:end], special):
            pieces = _as_text(tokenizer, text[start:end], special)
        for piece, piece_end in pieces:
            ids.append(piece)
            ends.append(start + piece_end)
    return ids, ends


def ids(tokenizer, texts: list[str], add_special_tokens: bool = True) -> list[list[int]]:
    return [tokens.ids() for tokens in encode(tokenizer, texts, add_special_tokens)]


def _from_text(tokenizer, token: int, piece: str, special: set[int]) -> bool:
    """A special id read from the text; <unk> only where the text spells "<unk>" (an unknown character is
    rightly <unk>)."""
    if token not in special:
        return False
    return token != tokenizer.unk_token_id or tokenizer.unk_token in piece


def _as_text(tokenizer, piece: str, special: set[int]) -> list[tuple[int, int]]:
    """(id, end offset) of `piece` run through the vocabulary's model alone, split until no token spelled in it
    is special: "</s>" becomes "<" + "/s>", tokenized as ordinary characters."""
    tokens = tokenizer.backend_tokenizer.model.tokenize(piece)
    if len(piece) < 2 or not any(_from_text(tokenizer, t.id, piece[t.offsets[0]:t.offsets[1]], special)
                                 for t in tokens):
        return [(t.id, t.offsets[1]) for t in tokens]
    rest = _as_text(tokenizer, piece[1:], special)
    return _as_text(tokenizer, piece[:1], special) + [(token, end + 1) for token, end in rest]


def unknown_chars(tokenizer, texts: list[str]) -> list[tuple[int, int]]:
    """(characters read as <unk>, characters) of each text, spaces not counted. Characters, not tokens: a
    Unigram vocabulary fuses a run of unknown characters into one <unk>, so 20,000 of them are one token."""
    unk = tokenizer.unk_token_id
    counts = []
    for text, found in zip(texts, encode(tokenizer, texts, add_special_tokens=False)):
        unknown, start = 0, 0
        for token, end in zip(found.body, found.ends):
            if token == unk:  # a literal "<unk>" in the text is text (encode), never counted here
                unknown += sum(not char.isspace() for char in text[start:end])
            start = max(start, end)
        counts.append((unknown, sum(not char.isspace() for char in text)))
    return counts
