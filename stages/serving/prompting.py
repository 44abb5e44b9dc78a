"""Dialogues to prompt token ids, exactly as the summarize CLI and the pipeline encode them."""
import threading

from .. import summarize
from ..io.errors import UserError
from ..modeling import models


class Prompter:
    def __init__(self, data_cfg, tokenizer=None):
        self.cfg = data_cfg
        self.tokenizer = tokenizer or models.load_tokenizer()
        # A fast tokenizer's Rust state is not shared safely between threads (its truncation settings are
        # mutable): one encoding at a time, off the event loop (the server runs it in a thread of its own).
        self.lock = threading.Lock()

    def encode(self, dialogues: list[str]) -> tuple[list[list[int]], list[int]]:
        """(prompt ids, tokens cut from each dialogue); ValueError with a message for a request to fix."""
        try:
            with self.lock:
                encoded = summarize.prompt_ids(self.tokenizer, {str(i): text for i, text in enumerate(dialogues)},
                                               self.cfg)
        except UserError as error:
            raise ValueError(str(error)) from None  # "dialogue 2 is empty: ...", numbered from 0 as sent
        return encoded.input_ids, encoded.over
