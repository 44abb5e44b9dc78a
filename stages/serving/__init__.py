"""The HTTP service behind `python -m stages.serve`: the FastAPI app and its routes (app.py), the dynamic
batcher that groups concurrent requests into one engine call per model (batcher.py), request limits and
parsing (limits.py), prompt encoding as the summarize CLI does it (prompting.py), the model backends
(backend.py), and the self-contained web page served at / (page.py, page.html).
"""
