"""What dvc.yaml declares for one stage: the params it records, the deps it hashes and the outputs it owns.

Read with plain YAML rather than DVC (whose import costs a second in every stage): `foreach` stages are
resolved by their `${key}` and `${item...}`, and any other `${a.b}` from params.yaml, as DVC does for this
project's dvc.yaml. A stage dvc.yaml does not list (a stage run outside a DVC project) declares nothing.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PARAMS_FILE = "params.yaml"  # DVC's default params file
_REFERENCE = re.compile(r"\$\{\s*([\w.-]+)\s*\}")


@dataclass(frozen=True)
class Declared:
    found: bool  # dvc.yaml lists the stage
    params: dict[str, list[str]] = field(default_factory=dict)  # file -> dotted keys; [] = the whole file
    deps: list[str] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)  # cached by DVC: `dvc checkout` restores them
    uncached: list[str] = field(default_factory=list)  # `cache: false`: git keeps them, not DVC


def stage(name: str, params_values: dict, dvc_yaml="dvc.yaml") -> Declared:
    """`name` as DVC addresses it (train_lora, generate@lora); `params_values` resolves `${...}`."""
    try:
        stages = (yaml.safe_load(Path(dvc_yaml).read_text(encoding="utf-8")) or {}).get("stages") or {}
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        return Declared(found=False)
    base, _, key = name.partition("@")
    body = stages.get(base)
    if not isinstance(body, dict):
        return Declared(found=False)
    context = dict(params_values)
    if "foreach" in body:
        items = body["foreach"]
        item = items.get(key) if isinstance(items, dict) else key if key in map(str, items or []) else None
        if item is None:
            return Declared(found=False)
        context.update(key=key, item=item)
        body = body.get("do") or {}
    elif key:
        return Declared(found=False)
    return _declared(_resolve(body, context))


def _declared(body: dict) -> Declared:
    params: dict[str, list[str]] = {}
    for entry in body.get("params") or []:
        if isinstance(entry, dict):  # {file: [keys]}
            for file, keys in entry.items():
                params.setdefault(str(file), []).extend(map(str, keys or []))
        else:
            params.setdefault(PARAMS_FILE, []).append(str(entry))
    outs, uncached = [], []
    for entry in [*(body.get("outs") or []), *(body.get("metrics") or []), *(body.get("plots") or [])]:
        path, options = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        (uncached if (options or {}).get("cache") is False else outs).append(str(path))
    deps = [next(iter(d)) if isinstance(d, dict) else d for d in body.get("deps") or []]
    return Declared(found=True, params=params, deps=[str(d) for d in deps], outs=outs, uncached=uncached)


def _resolve(value, context):
    if isinstance(value, str):
        return _REFERENCE.sub(lambda match: str(_lookup(context, match.group(1), match.group(0))), value)
    if isinstance(value, list):
        return [_resolve(v, context) for v in value]
    if isinstance(value, dict):
        return {_resolve(k, context): _resolve(v, context) for k, v in value.items()}
    return value


def _lookup(context, dotted: str, unresolved: str):
    value = context
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return unresolved
        value = value[part]
    return value


class _Missing:
    def __repr__(self):
        return "missing"


MISSING = _Missing()  # a key params.yaml lacks: unlike null, which is a value


def select(values: dict, key: str):
    """The value at a dotted key of params, or MISSING."""
    for part in key.split("."):
        if not isinstance(values, dict) or part not in values:
            return MISSING
        values = values[part]
    return values


def outputs(dvc_yaml="dvc.yaml") -> list[str] | None:
    """Every output, metric and plot path the stages of `dvc_yaml` declare, `foreach` stages resolved (a
    `${...}` that is not their key or item is left as is); None when it cannot be read."""
    try:  # libyaml's loader where it is installed: every writing command reads this, twice
        text = Path(dvc_yaml).read_text(encoding="utf-8")
        stages = (yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}).get("stages") or {}
        found = []
        for body in stages.values():
            if isinstance(body, dict) and "foreach" in body:
                items = body["foreach"]
                pairs = items.items() if isinstance(items, dict) else ((str(item), item) for item in items or [])
                bodies = [_resolve(body.get("do") or {}, {"key": key, "item": item}) for key, item in pairs]
            else:
                bodies = [_resolve(body, {})] if isinstance(body, dict) else []
            for one in bodies:
                what = _declared(one)
                found += what.outs + what.uncached
        return found
    except (OSError, ValueError, yaml.YAMLError, AttributeError, TypeError, StopIteration):
        return None
