"""Dialogues to prompt token ids, exactly as the summarize CLI and the pipeline encode them, with each served
model's own tokenizer (a model with another vocabulary reads other ids)."""
import threading

from .. import summarize
from ..io.errors import UserError
from ..modeling import models


class Prompter:
    def __init__(self, data_cfg, tokenizers=None):
        """tokenizers: {model name: its tokenizer} (the backends'), or one tokenizer for every model; by
        default models/base's."""
        self.cfg = data_cfg
        tokenizers = tokenizers if tokenizers is not None else models.load_tokenizer()
        self.tokenizers = tokenizers if isinstance(tokenizers, dict) else {None: tokenizers}
        self.tokenizer = next(iter(self.tokenizers.values()))  # the default model's
        # A fast tokenizer's Rust state is not shared safely between threads (its truncation settings are
        # mutable): one encoding at a time, off the event loop (the server runs it in a thread of its own).
        self.lock = threading.Lock()

    def encode(self, dialogues: list[str], model: str | None = None) -> tuple[list[list[int]], list[int]]:
        """(prompt ids, tokens cut from each dialogue) for `model`; ValueError with a message for a request to
        fix (the dialogue checks of stages/data/dialogue.py, as the CLI and prepare apply them)."""
        tokenizer = self.tokenizers.get(model, self.tokenizer)
        try:
            with self.lock:
                encoded = summarize.prompt_ids(tokenizer, {str(i): text for i, text in enumerate(dialogues)},
                                               self.cfg)
        except UserError as error:
            raise ValueError(str(error)) from None  # "dialogue 2 is empty: ...", numbered from 0 as sent
        return encoded.input_ids, encoded.over
