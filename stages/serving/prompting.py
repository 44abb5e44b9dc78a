"""Dialogues to prompt token ids, exactly as the summarize CLI and the pipeline encode them, with each served
model's own tokenizer (a model with another vocabulary reads other ids)."""
import threading

from .. import summarize
from ..io.errors import UserError


class Prompter:
    def __init__(self, data_cfg, tokenizers, chat: str = "auto"):
        """tokenizers: {model name: its tokenizer} (each backend's own), or one tokenizer that every model
        served was trained with; chat: params model.chat_template (a causal LM's prompts)."""
        self.cfg, self.chat = data_cfg, chat
        self.tokenizers = tokenizers if isinstance(tokenizers, dict) else {None: tokenizers}
        self.tokenizer = next(iter(self.tokenizers.values()))  # the default model's
        # A fast tokenizer's Rust state is not shared safely between threads (its truncation settings are
        # mutable): one encoding at a time, off the event loop (the server runs it in a thread of its own).
        self.lock = threading.Lock()

    def encode(self, dialogues: list[str], model: str | None = None) -> tuple[list[list[int]], list[int]]:
        """(prompt ids, tokens cut from each dialogue) for `model`; ValueError with a message for a request to
        fix (the dialogue checks of stages/data/dialogue.py, as the CLI and prepare apply them)."""
        # a model without a tokenizer named here is a KeyError (a 500), never another model's vocabulary
        tokenizer = self.tokenizers[None] if None in self.tokenizers else self.tokenizers[model]
        try:
            with self.lock:
                encoded = summarize.prompt_ids(tokenizer, {str(i): text for i, text in enumerate(dialogues)},
                                               self.cfg, self.chat)
        except UserError as error:
            raise ValueError(str(error)) from None  # "dialogue 2 is empty: ...", numbered from 0 as sent
        return encoded.input_ids, encoded.over
