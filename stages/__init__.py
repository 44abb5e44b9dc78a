"""Fine-tuning dialogue summarizers reproducibly with DVC.

The modules here are what DVC and users run, each as `python -m stages.<name>`: the pipeline's stages
(prepare, train_full, train_lora, generate, evaluate) and the commands around it (summarize, compare, sweep,
publish, serve, demo, params_doc). The subpackages hold what they share, each named after what it owns: io,
data, modeling, inference, training, scoring and reporting for the pipeline; experiments, shipping, serving
and scratch for the commands (see each package's docstring)."""
from .io import logs  # noqa: F401  first: quiet logs need to be set up before libraries load
from .io import net as _net  # noqa: E402
from .io import startup as _startup  # noqa: E402

_net.hub_environment()  # huggingface_hub reads its download timeouts when it is imported
_startup.check_environment()
_startup.quiet_interrupts()
from .io import parent as _parent  # noqa: E402

if _parent.under_dvc():  # before the libraries load: `dvc` may die during those seconds (stages/io/parent.py)
    _parent.stop_with_parent()
