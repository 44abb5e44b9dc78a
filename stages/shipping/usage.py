"""The card's Use section: a snippet that loads the published model and decodes as the evaluation did (the same
generate() keywords, the same number format), and what it gives."""
from .record import Record, decoded_with
from .subjects import METRICS_OF, Subject, num

EXAMPLE = ("#Person1#: Hello, I'd like to book a table for two for tonight.\n"
           "#Person2#: Of course. What time would you like?\n#Person1#: Around seven, please.")


def generate_kwargs(g) -> dict:
    """The keywords of the pipeline's own generate() call (decode.generate_kwargs): one source for the card's
    snippet and its figures. Imported here, not at the top, so that publish refuses bad arguments before torch
    loads."""
    from ..inference.decode import generate_kwargs as pipeline_kwargs

    return pipeline_kwargs(g)


def engine_words(gen: dict) -> str:
    engine, kind = decoded_with(gen)
    return f"by CTranslate2 in `{kind}`" if engine == "ctranslate2" else f"in `{kind}`"


def decoding(record: Record, model: str) -> str:
    """How the scored summaries were decoded: generate()'s keywords, then the engine and its number format."""
    g = record.params.generate
    how = ", ".join(f"{k} {num(v)}" for k, v in generate_kwargs(g).items() if k != "do_sample")
    return f"with {how} ({'greedy' if g.num_beams == 1 else 'beam search'}) {engine_words(record.generate[model])}"


def _call(g) -> str:
    """The generate() call of the snippet: the keywords the pipeline's own call passes (decode.generate_kwargs)."""
    return ", ".join(f"{k}={num(v)}" for k, v in generate_kwargs(g).items())


def section(record: Record, subject: Subject) -> list[str]:
    model = METRICS_OF[subject.kind]
    g, d = record.params.generate, record.params.data
    engine, kind = decoded_with(record.generate[model])
    bf16 = engine == "torch" and kind == "bf16"  # CTranslate2's float32 writes what transformers' float32 writes
    dtype = "torch.bfloat16" if bf16 else "torch.float32"
    code = ["import torch", "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer"]
    if subject.kind == "adapter":
        code.insert(1, "from peft import PeftModel")
    code += ["", f"REPO = {subject.repo_id!r}"]
    if subject.kind == "adapter":
        code += [f"BASE = {subject.base.id!r}", f"BASE_REVISION = {subject.base.revision!r}"]
    code += [f"PROMPT = {d.prompt!r}", "", "tokenizer = AutoTokenizer.from_pretrained(REPO)"]
    if subject.kind == "adapter":
        code += ["base = AutoModelForSeq2SeqLM.from_pretrained(BASE, revision=BASE_REVISION)",
                 "# merged in fp32 before any cast, as the evaluation generated",
                 f"model = PeftModel.from_pretrained(base, REPO).merge_and_unload().to({dtype}).eval()"]
    else:
        code += [f"model = AutoModelForSeq2SeqLM.from_pretrained(REPO).to({dtype}).eval()"]
    code += ["", "", "def summarize(dialogue: str) -> str:",
             "    inputs = tokenizer(PROMPT.format(dialogue=dialogue), return_tensors=\"pt\").to(model.device)",
             f"    output = model.generate(**inputs, {_call(g)})",
             "    return tokenizer.decode(output[0], skip_special_tokens=True).strip()", "", "",
             f"print(summarize({EXAMPLE!r}))"]
    needs = "`pip install torch transformers peft`" if subject.kind == "adapter" else "`pip install torch transformers`"
    if engine == "ctranslate2":
        same = ("the same summaries" if kind == "float32" else
                f"the summaries CTranslate2 writes in float32; `{kind}` rounds the weights, so some of the scored "
                "summaries may differ (`python -m stages.compare` measures what that costs in ROUGE)")
        said = (f"The evaluation decoded with CTranslate2 in `{kind}` (generate.engine ctranslate2). With {needs}, "
                f"this decodes the same model with transformers in float32, which gives {same}:")
    else:
        said = (f"With {needs}; this gives the summaries the evaluation scored, in `{kind}` as the evaluation ran "
                "(the same generate() call, with the model's own generation config):")
    return [said, "", "```python", *code, "```"]
