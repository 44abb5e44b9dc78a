"""The web page at /: one self-contained file (no external assets), with a Content-Security-Policy that lets only
its own inline script and style run and lets it talk only to this server."""
import base64
import hashlib
import re
from pathlib import Path

HTML = Path(__file__).with_name("page.html").read_text(encoding="utf-8")


def _digest(tag: str) -> str:
    body = re.search(rf"<{tag}>(.*?)</{tag}>", HTML, re.S).group(1)
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"


HEADERS = {
    "content-security-policy": (f"default-src 'none'; script-src {_digest('script')}; style-src {_digest('style')}; "
                                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
