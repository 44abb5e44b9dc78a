"""The page at / in headless Chromium against a real uvicorn (fake engine, the tiny model's tokenizer): it lists the
models, takes a pasted dialogue, shows the summary as text and the time, and shows a 4xx's message."""
import pytest
from test_serve_api import Engine, prompter  # noqa: F401 - prompter is a fixture

from browser import CHROMIUM, Browser
from live import Live
from stages.serving import app as app_

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium); "
                                                         ".ci/run installs it")
DIALOGUE = "#Person1#: <img src=x onerror=alert(1)> Hello & welcome.\n#Person2#: </textarea><b>Hi</b>"


@pytest.fixture
def browser(tmp_path):
    browser = Browser(tmp_path / "profile")
    yield browser
    browser.close()


def test_paste_pick_a_model_and_read_the_summary_and_its_time(browser, prompter):  # noqa: F811
    engines = {"m": Engine("m"), "other": Engine("other")}
    with Live(app_.create_app(engines, prompter)) as live:
        browser.open(f"{live.url}/")
        browser.until("document.body.dataset.ready")
        assert browser.run("[...document.querySelectorAll('#model option')].map(o => [o.value, o.textContent])") == [
            ["m", "m (fake, fp32)"], ["other", "other (fake, fp32)"]]

        browser.run("document.getElementById('dialogue').focus()")
        browser.send("Input.insertText", {"text": DIALOGUE})  # typed, as a paste arrives
        browser.run("document.getElementById('model').value = 'other'")
        browser.run("document.getElementById('go').click()")
        assert browser.until("document.body.dataset.answered") == "1"
        ids, _ = prompter.encode([DIALOGUE])
        summary = f"<b>other</b> read {len(ids[0])} tokens"
        assert browser.run("document.getElementById('summary').textContent") == summary
        assert browser.run("document.getElementById('summary').children.length") == 0  # text, never markup
        assert browser.run("document.querySelectorAll('img').length") == 0
        shown = browser.run("document.getElementById('time').textContent")
        assert " in all: the model other took " in shown and "for a batch of 1" in shown
        assert engines["other"].calls == [ids] and engines["m"].calls == []
        assert browser.run("document.getElementById('error').textContent") == ""
        assert browser.problems() == []

        browser.run("document.getElementById('dialogue').value = '   '")  # passes `required`, not the server
        browser.run("document.getElementById('go').click()")
        assert browser.until("document.body.dataset.answered === '2' && document.body.dataset.answered") == "2"
        assert browser.run("document.getElementById('error').textContent").startswith("422: dialogue 0 is empty")
        assert browser.run("document.getElementById('summary').textContent") == ""
        logged = browser.problems()  # the browser logs the 422 itself; nothing else may be there
        assert len(logged) == 1 and logged[0].startswith("Failed to load resource: the server responded with a "
                                                         "status of 422"), logged
