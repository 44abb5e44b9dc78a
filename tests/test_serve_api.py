"""The JSON API in-process (FastAPI's TestClient), a fake engine and the tiny model's real tokenizer: answers,
limits, and what a hostile client sends, each with its exact status code. Server errors are raised in the test,
never hidden behind a 500."""
import asyncio
import dataclasses
import json
import threading
from pathlib import Path

import httpx
import pytest
import tiny
from fastapi.testclient import TestClient

from project import ROOT
from stages.modeling import models
from stages.io import params
from stages.data import prompts
from stages.serving import app as app_, limits, prompting

WAIT = 30
DIALOGUE = "#Person1#: Good morning, how can I help you?\n#Person2#: I would like to open an account."


class Engine:
    """A summary that names the prompt's length and carries markup (the page must show it as text)."""

    def __init__(self, name="m"):
        self.name, self.calls = name, []
        self.entered, self.gate = threading.Event(), threading.Event()
        self.gate.set()

    def summarize(self, inputs, progress=False):
        assert progress is False
        self.calls.append(inputs)
        self.entered.set()
        assert self.gate.wait(WAIT)
        return [f"<b>{self.name}</b> read {len(ids)} tokens" for ids in inputs]

    def describe(self):
        return {"engine": "fake", "precision": "fp32"}


@pytest.fixture(scope="module")
def prompter(tiny_model):
    cfg = dataclasses.replace(params.load(ROOT / "params.yaml").data, max_source_length=128)
    return prompting.Prompter(cfg, models.load_tokenizer(tiny_model))


def make(prompter, engines=None, **batching):
    engines = engines or {"m": Engine("m"), "other": Engine("other")}
    settings = app_.Batching(**{"max_batch": 8, "max_wait_s": 0.0, "queue_size": 16, **batching})
    return app_.create_app(engines, prompter, limits.Limits(max_body_bytes=64 * 1024, max_dialogues=4,
                                                            max_chars=2000), settings), engines


@pytest.fixture
def client(prompter):
    service, engines = make(prompter)
    with TestClient(service) as client:
        client.engines = engines
        yield client


def post(client, body, content_type="application/json"):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return client.post("/summarize", content=body, headers={"content-type": content_type})


def test_summaries_in_order_with_timings_from_the_model_asked_for(client, prompter):
    second = DIALOGUE + "\n#Person1#: Sure."
    answer = post(client, {"dialogues": [DIALOGUE, second], "model": "other"})
    assert answer.status_code == 200
    body = answer.json()
    ids = prompts.encode(prompter.tokenizer, prompter.cfg.prompt, [DIALOGUE, second], 128).input_ids
    assert body["model"] == "other" and [s["summary"] for s in body["summaries"]] == [
        f"<b>other</b> read {len(ids[0])} tokens", f"<b>other</b> read {len(ids[1])} tokens"]
    assert client.engines["other"].calls == [ids] and client.engines["m"].calls == []  # the CLI's prompt ids
    for summary in body["summaries"]:
        assert summary["batch"] == 2 and summary["cut_tokens"] == 0
        assert summary["queue_s"] >= 0 and summary["engine_s"] >= 0
    assert body["total_s"] >= body["summaries"][0]["engine_s"]
    assert post(client, {"dialogues": [DIALOGUE]}).json()["model"] == "m"  # the first served is the default


def test_a_long_dialogue_is_cut_as_the_cli_cuts_it_and_the_answer_says_so(client, prompter):
    long = "\n".join([DIALOGUE] * 10)
    summary = post(client, {"dialogues": [long]}).json()["summaries"][0]
    full = len(prompter.tokenizer(prompts.build(prompter.cfg.prompt, long))["input_ids"])
    assert summary["cut_tokens"] == full - 128 > 0 and summary["summary"].endswith("read 128 tokens")


def test_health_lists_models_queues_and_limits(client):
    post(client, {"dialogues": [DIALOGUE]})
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["default_model"] == "m" and list(health["models"]) == ["m", "other"]
    assert health["models"]["m"] == {"engine": {"engine": "fake", "precision": "fp32"}, "queue": 0, "capacity": 16,
                                      "max_batch": 8, "max_wait_ms": 0.0, "batches": 1, "dialogues": 1}
    assert health["limits"] == {"max_body_bytes": 65536, "max_dialogues": 4, "max_chars": 2000,
                                "body_timeout_s": 30.0}


def test_health_shows_no_path_of_the_server(prompter, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp" / "r4").mkdir(parents=True)

    class At(Engine):  # a model given as NAME=DIR, described as a backend describes it
        def __init__(self, spec):
            super().__init__()
            self.spec = spec

        def describe(self):
            return {"model": self.spec, "engine": "fake", "folder": str(Path.home() / "x"), "cache": "~/models",
                    "precision_reason": "auto: the CPU's instruction set is unknown (no readable /proc/cpuinfo)"}

    service = app_.create_app({"r4": At("exp/r4"), "abs": At(str(tmp_path / "exp" / "r4")), "lora": At("lora")},
                              prompter)
    with TestClient(service) as client:
        health = client.get("/health")
    text = health.text
    assert str(tmp_path) not in text and "exp/r4" not in text and "~/" not in text and str(Path.home()) not in text
    engines = {name: model["engine"] for name, model in health.json()["models"].items()}
    assert engines["r4"] == engines["abs"] == {
        "engine": "fake", "precision_reason": "auto: the CPU's instruction set is unknown (no readable /proc/cpuinfo)"}
    assert engines["lora"]["model"] == "lora"  # a pipeline model's name is no path


def test_openapi_describes_the_request_and_the_errors(client):
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/summarize"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["dialogues"] and schema["additionalProperties"] is False
    assert {"200", "400", "408", "413", "415", "422", "503"} <= set(operation["responses"])
    assert "/health" in spec["paths"] and "/" not in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_the_page_is_self_contained_and_locked_down(client):
    answer = client.get("/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "innerHTML" not in answer.text and "http://" not in answer.text and "https://" not in answer.text


BAD = [  # (what a client sends, content type, status, words of the message)
    (b"\xff\xfe{}", "application/json", 400, "not UTF-8 (byte 0"),
    (b'{"dialogues": ["caf\xe9"]}', "application/json", 400, "not UTF-8 (byte 19"),
    (b'{"dialogues": [', "application/json", 400, "not valid JSON"),
    (b"", "application/json", 400, "not valid JSON"),
    (b'{"dialogues": ["hi"], "dialogues": ["other"]}', "application/json", 400, "key 'dialogues' twice"),
    (b"[" * 30_000 + b"]" * 30_000, "application/json", 400, "nested too deeply"),
    (b"1" * 5000, "application/json", 400, "over 4,300 digits"),
    (b'["a dialogue"]', "application/json", 422, "a JSON array; send an object"),
    (b'"a dialogue"', "application/json", 422, "a JSON string"),
    (b"42", "application/json", 422, "a JSON number"),
    (b"null", "application/json", 422, "a JSON null"),
    (b'{"dialogues": ["hi"]}', "text/plain", 415, "Content-Type: application/json"),
    (b'{"dialogues": ["hi"]}', "", 415, "got 'none'"),
    (b'{"dialogue": "hi"}', "application/json", 422, "dialogues: Field required; dialogue: Extra inputs"),
    (b'{"dialogues": "hi"}', "application/json", 422, "dialogues: Input should be a valid list"),
    (b'{"dialogues": [3]}', "application/json", 422, "dialogues.0: Input should be a valid string"),
    (b'{"dialogues": []}', "application/json", 422, "at least 1 item"),
    (b'{"dialogues": ["hi"], "model": 5}', "application/json", 422, "model: Input should be a valid string"),
    (b'{"dialogues": ["  \\n "]}', "application/json", 422, "dialogue 0 is empty"),
    (b'{"dialogues": ["\\ud800 hi"]}', "application/json", 422, "unpaired surrogate at character 0"),
    # the checks prepare and the CLI apply (stages/data/dialogue.py), with the same words
    (b'{"dialogues": ["hi", "#Person1#: hi\\u0000"]}', "application/json", 422,
     "dialogue 1 holds the control character U+0000 at character 13 (line 1)"),
    (json.dumps({"dialogues": ["\u200b\ufeff\u2060" * 100]}).encode(), "application/json", 422,
     "dialogue 0 is empty once its invisible characters (zero-width spaces, BOMs, joiners...) are removed"),
    (json.dumps({"dialogues": ["\u5927" * 2000]}).encode(), "application/json", 422,
     "dialogue 0 is 100% characters the model's tokenizer does not know (it reads them as <unk>), more than 25%"),
    (json.dumps({"dialogues": ["hi"] * 5}).encode(), "application/json", 422, "5 dialogues in one request; the limit is 4"),
    (json.dumps({"dialogues": ["x" * 2001]}).encode(), "application/json", 422, "2,001 characters; the limit is 2,000"),
]


@pytest.mark.parametrize("body, content_type, status, message", BAD, ids=[b[3] for b in BAD])
def test_what_a_client_gets_wrong_is_a_4xx_that_says_what(client, body, content_type, status, message):
    answer = post(client, body, content_type)
    assert (answer.status_code, answer.headers["content-type"]) == (status, "application/json")
    assert message in answer.json()["detail"]
    assert all(engine.calls == [] for engine in client.engines.values())
    assert client.get("/health").json()["models"]["m"]["queue"] == 0  # no room held for a refused request


@pytest.mark.parametrize("name", ["../models/base", "/etc/passwd", "models/lora", "base", "M", "m ", ""])
def test_a_model_name_is_one_of_those_served_never_a_path(client, name):
    answer = post(client, {"dialogues": [DIALOGUE], "model": name})
    assert answer.status_code == 422 and "is not served here; choose one of m, other" in answer.json()["detail"]


def test_a_10_mb_body_is_refused_from_its_declared_length(client):
    answer = post(client, json.dumps({"dialogues": ["x" * (10 << 20)]}).encode())
    assert answer.status_code == 413 and "the limit is 65,536 (--max-body-bytes)" in answer.json()["detail"]
    assert answer.headers["connection"] == "close"


def test_wrong_paths_and_methods_are_404_and_405(client):
    assert client.get("/summarize").status_code == 405
    assert client.post("/summarise", json={}).status_code == 404
    assert client.get("/../../etc/passwd").status_code == 404


def test_only_loopback_host_names_when_asked(prompter):
    service = app_.create_app({"m": Engine()}, prompter, allowed_hosts=["127.0.0.1", "localhost"])
    with TestClient(service, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/health").status_code == 200
        refused = client.get("/health", headers={"host": "attacker.example:8000"})
        assert refused.status_code == 400 and "names another host" in refused.json()["detail"]  # was plain text
        for host in ("attacker.example", "127.0.0.1.attacker.example", "[::2]:80", "", "localhost:8000:1"):
            assert client.get("/health", headers={"host": host}).status_code == 400, host
        assert client.get("/health", headers={"host": "LOCALHOST:1"}).status_code == 200
    service = app_.create_app({"m": Engine()}, prompter, allowed_hosts=["127.0.0.1", "localhost", "::1"])
    with TestClient(service, base_url="http://[::1]:8000") as client:
        assert client.get("/health").status_code == 200  # starlette's own check read "[::1]:8000" as host "["


def test_an_engine_failure_is_a_500_without_a_traceback(prompter):
    class Broken(Engine):
        def summarize(self, inputs, progress=False):
            raise RuntimeError("CUDA out of memory at /secret/path")

    service, _ = make(prompter, {"m": Broken()})
    with TestClient(service, raise_server_exceptions=False) as client:
        answer = post(client, {"dialogues": [DIALOGUE]})
        assert answer.status_code == 500
        assert answer.json() == {"detail": "internal error; the server's log has the details"}
        assert post(client, {"dialogues": [DIALOGUE + " Bye."]}).status_code == 500  # still answering


class Echo(Engine):
    """Summarizes a prompt as its token ids: each answer shows whose dialogue it was made from."""

    def summarize(self, inputs, progress=False):
        super().summarize(inputs, progress)
        return [" ".join(map(str, ids)) for ids in inputs]


def numbered(n: int) -> str:
    """A distinct dialogue per number, in words the tiny tokenizer knows (digits would be <unk>)."""
    return " ".join(tiny.NAMES[int(digit)] for digit in oct(n)[2:])


def test_thousands_of_tiny_requests_past_a_full_queue_get_200_or_503_with_retry_after(prompter):
    """A blocked engine holds one request; 16 queue; the other 1,983 are refused at once; then all 17 finish."""
    engine = Echo()
    service, _ = make(prompter, {"m": engine}, max_batch=1, queue_size=16)

    async def flood():
        transport = httpx.ASGITransport(app=service)
        async with service.router.lifespan_context(service), \
                httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            engine.gate.clear()
            first = asyncio.ensure_future(client.post("/summarize", json={"dialogues": ["first"]}))
            assert await asyncio.to_thread(engine.entered.wait, WAIT)
            tasks = [asyncio.ensure_future(client.post("/summarize", json={"dialogues": [numbered(n)]}))
                     for n in range(1999)]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            while sum(task.done() for task in tasks) < 1999 - 16 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            assert service.state.batchers["m"].depth() == 16
            engine.gate.set()
            return [await first] + list(await asyncio.gather(*tasks))

    answers = asyncio.run(flood())
    texts = ["first"] + [numbered(n) for n in range(1999)]
    codes = [answer.status_code for answer in answers]
    assert codes.count(200) == 17 and codes.count(503) == 1983
    ids, _ = prompter.encode(texts)
    assert len({tuple(i) for i in ids}) == len(texts)
    for answer, expected in zip(answers, ids):
        if answer.status_code == 503:
            assert int(answer.headers["retry-after"]) >= 1 and "the queue holds 16" in answer.json()["detail"]
        else:  # its own dialogue's summary, not a neighbour's
            assert answer.json()["summaries"][0]["summary"] == " ".join(map(str, expected))
    assert sum(len(call) for call in engine.calls) == 17 and service.state.batchers["m"].depth() == 0


def test_each_model_is_encoded_with_its_own_tokenizer(prompter):
    """Found: every served model was sent models/base's token ids, whatever vocabulary it reads."""
    from stages.scratch.model import tokenizer_from

    other = tokenizer_from([DIALOGUE, prompter.cfg.prompt, "#Person2#: Sure, good morning."] * 3, 90)
    own = prompting.Prompter(prompter.cfg, {"m": prompter.tokenizer, "other": other})
    service, engines = make(own)
    with TestClient(service) as client:
        assert post(client, {"dialogues": [DIALOGUE], "model": "other"}).status_code == 200
        assert post(client, {"dialogues": [DIALOGUE], "model": "m"}).status_code == 200
    expected = {name: prompts.encode(tok, prompter.cfg.prompt, [DIALOGUE], 128).input_ids
                for name, tok in (("m", prompter.tokenizer), ("other", other))}
    assert expected["m"] != expected["other"]  # two vocabularies: other ids for the same text
    assert engines["other"].calls == [expected["other"]] and engines["m"].calls == [expected["m"]]
