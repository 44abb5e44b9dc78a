"""DVC pipeline stages for fine-tuning dialogue summarizers; one module per stage."""
from . import logs  # noqa: F401  first: quiet logs need to be set up before libraries load
