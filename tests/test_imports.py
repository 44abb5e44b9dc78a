"""No import cycle among the modules of `stages`, counting imports inside functions: each one a module that
cannot be read without the other (errors and stage, modeling and training were)."""
import ast
from pathlib import Path

from project import ROOT


def _graph() -> dict[str, set[str]]:
    paths = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / "stages").rglob("*.py")}
    graph = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [node.module or ""]
                                ).strip(".") if node.level else node.module or ""
                found = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            graph[name] |= {target for target in found if target in paths and target not in (name, "stages")}
    return graph


def test_no_module_imports_one_that_imports_it_back():
    graph, cycles = _graph(), []

    def walk(name, trail):
        for target in graph[name]:
            if target in trail:
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in done:
                walk(target, trail + [target])
        done.add(name)

    done = set()
    for start in graph:
        if start not in done:
            walk(start, [start])
    assert not cycles, cycles[:3]
    assert "stages.io.errors" in graph["stages.io.stage"]  # the graph sees the imports it checks
