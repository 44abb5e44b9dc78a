"""What every stage and command shares: params.yaml validated into typed objects (params), errors a user can fix
printed as one paragraph (errors), files written atomically and never over a user's own (files; the proof of
what a command wrote: proof; what is never replaced: protected), files and folders hashed one way (hashing), the
JSON a user gives read with one message for whatever is wrong (jsonl), quiet, terminal-aware output (logs), the
one door to the network and its timeouts (net), credentials scrubbed from every message (secrets), text from
files made safe for a terminal, a spreadsheet or markdown (text), an environment checked and Ctrl-C quiet
while the libraries load (startup); and around each pipeline stage: what dvc.yaml declares for it
(declared), its inputs checked unchanged before its outputs land (stage), and no life beyond the `dvc` that
started it (parent)."""
