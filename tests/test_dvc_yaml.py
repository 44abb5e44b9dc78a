"""Each stage in dvc.yaml depends on exactly the stages/ code it imports, so a code change reruns what it
affects and nothing else. A dep may be a package folder, which stands for every module in it: it is declared
as a folder exactly when the stage reads the whole package, so dvc.yaml stays short and still exact."""
import ast
import re

import pytest
import yaml

from project import ROOT

STAGES_DIR = ROOT / "stages"


def _module_file(parts: list[str]):
    """stages/<parts>.py, or the package's __init__.py, or None."""
    path = ROOT.joinpath(*parts)
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _with_packages(file) -> set:
    """A module and the __init__.py of every package it sits in (Python runs them on import)."""
    found = {file}
    for folder in file.relative_to(ROOT).parents:
        if folder.parts and (ROOT / folder / "__init__.py").is_file():
            found.add(ROOT / folder / "__init__.py")
    return found


def _imported(file, nodes) -> set:
    package = list(file.relative_to(ROOT).parts[:-1])  # e.g. ["stages", "training"]
    found = set()
    for node in nodes:
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[:len(package) - node.level + 1]
        elif node.module and node.module.split(".")[0] == "stages":
            base = []
        else:
            continue
        parts = base + (node.module.split(".") if node.module else [])
        target = _module_file(parts)
        if target:
            found |= _with_packages(target)
        for alias in node.names:  # `from pkg import module`
            sub = _module_file(parts + [alias.name])
            if sub:
                found |= _with_packages(sub)
    return found


def imports(file, everywhere: bool) -> set:
    """stages/ files that `file` imports: at import time only, or also inside functions. Shared modules import
    some helpers lazily on purpose (only prepare tokenizes), so only the stage's own module counts all."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    return _imported(file, ast.walk(tree) if everywhere else tree.body)


# Lazy imports of shared modules that a stage does run: prepare tokenizes (dialogsum.tokenize imports prompts).
LAZY = {"prepare": {STAGES_DIR / "data" / "prompts.py"}}


def code_read_by(stage_module: str) -> set[str]:
    entry = STAGES_DIR / f"{stage_module}.py"
    seen = {entry, STAGES_DIR / "__init__.py"} | imports(entry, everywhere=True) | LAZY.get(stage_module, set())
    seen |= imports(STAGES_DIR / "__init__.py", everywhere=False)
    todo = list(seen)
    while todo:
        for file in imports(todo.pop(), everywhere=False):
            if file not in seen:
                seen.add(file)
                todo.append(file)
    return {str(file.relative_to(ROOT)) for file in seen}


def expand(dep: str) -> set[str]:
    path = ROOT / dep
    if path.is_dir():
        return {str(file.relative_to(ROOT)) for file in path.rglob("*.py") if "__pycache__" not in file.parts}
    return {dep}


def stages():
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        body = stage.get("do", stage)
        yield name, re.search(r"python -m stages\.(\w+)", body["cmd"]).group(1), body["deps"]


@pytest.mark.parametrize("name, module, deps", list(stages()), ids=[s[0] for s in stages()])
def test_stage_declares_exactly_the_code_it_imports(name, module, deps):
    declared = [dep.rstrip("/") for dep in deps if isinstance(dep, str) and dep.startswith("stages/")]
    covered = set().union(*(expand(dep) for dep in declared))
    needed = code_read_by(module)
    assert covered == needed, f"{name}: missing {sorted(needed - covered)}, not read {sorted(covered - needed)}"
    # a package the stage reads whole is one folder dep, not a list of its files
    for folder in {path.parent for path in STAGES_DIR.rglob("__init__.py")} - {STAGES_DIR}:
        mine = expand(str(folder.relative_to(ROOT)))
        if mine <= needed:
            assert str(folder.relative_to(ROOT)) in declared, f"{name}: list {folder.relative_to(ROOT)} as a folder"


def test_every_package_says_what_it_owns():
    for init in STAGES_DIR.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.split()) >= 12, f"{init.relative_to(ROOT)}: a docstring saying what the package owns"
