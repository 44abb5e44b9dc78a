"""Each stage in dvc.yaml depends on exactly the stages/ code it imports, so a code change reruns what it
affects and nothing else."""
import ast
import re

import pytest
import yaml

from project import ROOT

STAGES_DIR = ROOT / "stages"


def _modules(parts: list[str]) -> set[str]:
    """The stages/ files importing `parts` (a module path under stages/) runs: it, or its package's __init__,
    and the __init__ of every package on the way."""
    found = {"/".join(parts[:i] + ["__init__"]) for i in range(1, len(parts) + 1)
             if (STAGES_DIR.joinpath(*parts[:i]) / "__init__.py").is_file()}
    if parts and STAGES_DIR.joinpath(*parts[:-1], f"{parts[-1]}.py").is_file():
        found.add("/".join(parts))
    return found


def _imported(tree_nodes, module: str) -> set[str]:
    """Modules of stages/ (paths without .py: "generate", "inference/engines") that these nodes of `module` import."""
    package = module.split("/")[:-1]
    names = set()
    for node in tree_nodes:
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level >= 1:
            base = package[:len(package) - node.level + 1]
            parts = base + (node.module.split(".") if node.module else [])
        elif node.module and node.module.split(".")[0] == "stages":
            parts = node.module.split(".")[1:]
        else:
            continue
        names |= _modules(parts)
        for alias in node.names:  # from . import data; from .inference import torch_engine
            names |= _modules(parts + [alias.name]) - _modules(parts)
    return {name for name in names if name != "__init__"}


def imports(module: str, everywhere: bool) -> set[str]:
    """Modules of stages/ that `module` imports: at import time only, or also inside functions. Shared modules
    import some helpers lazily on purpose (only prepare tokenizes), so only the stage's own module counts all."""
    tree = ast.parse((STAGES_DIR / f"{module}.py").read_text(encoding="utf-8"))
    return _imported(ast.walk(tree) if everywhere else tree.body, module)


# Lazy imports of shared modules that a stage does run: prepare tokenizes (data.tokenize imports prompts).
LAZY = {"prepare": {"prompts"}}


def code_read_by(stage_module: str) -> set[str]:
    seen = {stage_module, "__init__"} | imports(stage_module, everywhere=True) | imports("__init__", False)
    seen |= LAZY.get(stage_module, set())
    todo = list(seen)
    while todo:
        for name in imports(todo.pop(), everywhere=False):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return {f"stages/{name}.py" for name in seen}


def stages():
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        body = stage.get("do", stage)
        yield name, re.search(r"python -m stages\.(\w+)", body["cmd"]).group(1), body["deps"]


@pytest.mark.parametrize("name, module, deps", list(stages()), ids=[s[0] for s in stages()])
def test_stage_declares_exactly_the_code_it_imports(name, module, deps):
    declared = {dep for dep in deps if isinstance(dep, str) and dep.startswith("stages/")}
    needed = code_read_by(module)
    assert declared == needed, f"{name}: missing {sorted(needed - declared)}, not read {sorted(declared - needed)}"
