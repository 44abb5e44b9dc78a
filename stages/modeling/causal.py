"""What a decoder-only causal LM needs beyond what flan-t5 has: the chat template (model.chat_template), the
token that ends an answer, and a padding token that is not that token.

The trap this avoids: many causal LMs ship with no pad token, or with pad = EOS; recipes that mask padding out of
the labels by its id then mask EOS too, and the model never learns to stop. Here the labels are built explicitly
(stages/data/causal_tokens.py), and the snapshot in models/base gets a pad token of its own besides: an unused
special token the tokenizer already has, else a new one (the embedding grows only where it has no spare row)."""
from ..io.errors import ParamsError

CHAT_SETTINGS = ("auto", "on", "off")
SENTINEL = "\u2063SUMMARY\u2063"  # text no template adds: where the user's message or the answer goes
PAD_NAMES = ("<|finetune_right_pad_id|>", "<|pad|>", "<pad>", "[PAD]")  # Llama 3's reserved pad first
NEW_PAD = "<|pad|>"
# Llama 3's template writes today's date into its system turn unless given one: the same prompt every day, so
# that summarize and serve encode what training saw (its own fallback date)
FIXED = {"date_string": "26 Jul 2024"}


def uses_template(tokenizer, setting: str) -> bool:
    """Whether prompts go through the tokenizer's chat template: auto = where it has one; on = it must."""
    if setting not in CHAT_SETTINGS:
        raise ParamsError("model.chat_template", f"{setting!r} is not one of {', '.join(CHAT_SETTINGS)}.")
    has = bool(getattr(tokenizer, "chat_template", None))
    if setting == "on" and not has:
        raise ParamsError("model.chat_template", "on, but the model's tokenizer has no chat template "
                          "(tokenizer_config.json chat_template, or chat_template.jinja): set auto or off, or use "
                          "the instruct model's tokenizer files.")
    return setting != "off" and has


def template_parts(tokenizer) -> tuple[str, str, bool]:
    """(text before, text after) the user's message in the chat template, with the assistant's turn opened, and
    whether the template trims the message (Llama 3's does): the prompt is then trimmed too, as it would render."""
    text = render(tokenizer, [{"role": "user", "content": f" {SENTINEL} "}], add_generation_prompt=True)
    before, found, after = text.partition(SENTINEL)
    if not found or SENTINEL in after:
        raise ParamsError("model.chat_template", "the tokenizer's chat template " + (
            "drops the user's message" if not found else "repeats the user's message") + ", which this project "
            "cannot split into the template's tokens and the dialogue's text; set model.chat_template to off.")
    trims = not (before.endswith(" ") and after.startswith(" "))
    return (before, after, True) if trims else (before[:-1], after[1:], False)


def render(tokenizer, messages: list[dict], **kwargs) -> str:
    """The chat template's text for `messages`; a template that cannot render them is one message, not a
    traceback from jinja."""
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, **FIXED, **kwargs)
    except Exception as error:  # noqa: BLE001 - jinja's syntax and runtime errors, and the template's own raises
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise ParamsError("model.chat_template", f"the tokenizer's chat template cannot render a user's message "
                          f"({type(error).__name__}: {first}); fix chat_template in the model's tokenizer files, "
                          "or set model.chat_template to off.") from None


def end_id(tokenizer, templated: bool) -> int:
    """The token that ends an answer: the chat template's end of turn (Qwen's <|im_end|>, Llama 3's <|eot_id|>)
    where prompts use the template and it closes the assistant's turn with a special token; else EOS."""
    if templated:
        try:
            text = render(tokenizer, [{"role": "user", "content": "x"}, {"role": "assistant", "content": SENTINEL}])
        except ParamsError:  # a template that cannot render an answer: EOS, as without one
            text = ""
        rest = text.partition(SENTINEL)[2]
        if rest:
            first = tokenizer(rest, add_special_tokens=False)["input_ids"][:1]
            if first and first[0] in special_ids(tokenizer):
                return first[0]
    if tokenizer.eos_token_id is None:
        raise ParamsError("model.name", "its tokenizer has no EOS token: a causal LM could not be taught to stop.")
    return tokenizer.eos_token_id


def special_ids(tokenizer) -> set[int]:
    """The tokenizer's named special tokens and every added token marked special (<|im_end|> may be only that)."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return set(tokenizer.all_special_ids) | {i for i, token in added.items() if getattr(token, "special", False)}


def stop_ids(tokenizer, templated: bool) -> list[int]:
    """What decoding stops at: the answer's end token and EOS."""
    return list(dict.fromkeys([end_id(tokenizer, templated), tokenizer.eos_token_id]))


def choose_pad(tokenizer, taken: set[int]) -> tuple[str, bool]:
    """(pad token, whether it is new): the shipped pad if no stop token, else an unused pad-like special token
    the tokenizer has, else NEW_PAD."""
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id not in taken:
        return tokenizer.pad_token, False
    vocab = tokenizer.get_vocab()
    for name in PAD_NAMES + tuple(sorted(t for t in tokenizer.all_special_tokens if "pad" in t.lower())):
        if name in vocab and vocab[name] not in taken:
            return name, False
    return NEW_PAD, True


def set_pad(tokenizer, model, templated: bool) -> str:
    """Give tokenizer and model a pad token distinct from the answer's end token and EOS (what labels hold), and
    a generation config that stops at both; returns a line saying what was done."""
    stops = set(stop_ids(tokenizer, templated))
    shipped = tokenizer.pad_token
    pad, new = choose_pad(tokenizer, stops)
    if new:
        tokenizer.add_special_tokens({"pad_token": pad})
    else:
        tokenizer.pad_token = pad
    rows = model.get_input_embeddings().weight.shape[0]
    resized = len(tokenizer) > rows
    if resized:  # only where the embedding has no spare row for it; padding is never attended nor scored
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    pad_id = tokenizer.pad_token_id
    model.config.pad_token_id = pad_id
    model.generation_config.pad_token_id = pad_id
    own = model.generation_config.eos_token_id  # Qwen2.5-Instruct's also stops at <|endoftext|>: kept
    own = [] if own is None else [own] if isinstance(own, int) else list(own)
    model.generation_config.eos_token_id = list(dict.fromkeys(stop_ids(tokenizer, templated) + own))
    if pad == shipped:
        return f"pad token: {pad} (id {pad_id}) as shipped, distinct from the end token(s) {sorted(stops)}"
    how = ("added" + (f", embedding resized from {rows} to {len(tokenizer)} rows" if resized else
                      f", the embedding's spare row {pad_id} (no resize)")) if new else "an unused special token"
    return (f"pad token: {pad} (id {pad_id}; {how}) instead of the shipped {shipped or 'none'}, so that padding is "
            f"never the end token(s) {sorted(stops)} the model must learn to write")


def chat_setting(p) -> str:
    """params model.chat_template."""
    return p.model.chat_template
