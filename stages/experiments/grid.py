"""The runs of a sweep: `-S` settings expanded as `dvc exp run --queue` expands them (a comma list or
range() is swept, several swept keys give every combination), each with a name made from its settings and
the params it will run with."""
import hashlib
import json
import re

from ..io.errors import UserError

PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")  # a name prefix is part of a git ref: nothing else


def expand(settings: list[str]) -> list[list[str]]:
    """One list of `-S` values per run, in DVC's own order. Only params.yaml is swept (the stages read no other
    params file)."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import get_hydra_sweeps, to_hydra_overrides
    from hydra.errors import HydraException

    if not settings:
        raise UserError("no settings to sweep: give one or more -S, e.g. -S 'lora.r=4,8,16'.")
    by_file = to_path_overrides(settings)
    if set(by_file) != {"params.yaml"}:
        raise UserError(f"-S names {', '.join(sorted(set(by_file) - {'params.yaml'}))}: the stages read only "
                        "params.yaml; write the setting as KEY=VALUE without a file name.")
    try:
        swept = any(o.is_sweep_override() for o in to_hydra_overrides(by_file["params.yaml"]))
        runs = get_hydra_sweeps(by_file) if swept else [by_file]
    except (InvalidArgumentError, HydraException) as error:
        raise UserError(f"cannot read the -S settings ({_short(error)}); write them as `dvc exp run -S` takes "
                        "them: KEY=VALUE, KEY=A,B,C or KEY=range(START,STOP), a text with commas or spaces "
                        "in quotes: KEY='a, b'.") from None
    return [run["params.yaml"] for run in runs]


def name(prefix: str, settings: list[str]) -> str:
    """The run's experiment name: the prefix and a digest of its settings. The same settings give the same
    name, so a sweep run twice from one commit finds its runs done; any text in a value stays out of the ref."""
    digest = hashlib.sha256(json.dumps(sorted(settings)).encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"


def check_prefix(prefix: str) -> str:
    if not PREFIX.fullmatch(prefix):
        raise UserError(f"--prefix {prefix!r}: use 1 to 40 letters, digits, '-' or '_', starting with a letter "
                        "or digit (it begins every experiment's name, which is a git ref).")
    return prefix


def read_params(params_yaml: str) -> dict:
    """The commit's params.yaml as DVC reads it (YAML 1.2: 1e-3 is a number)."""
    from dvc.exceptions import DvcException
    from dvc.utils.serialize import parse_yaml

    try:
        return parse_yaml(params_yaml, "params.yaml") or {}
    except DvcException as error:
        raise UserError(f"the commit's params.yaml is not valid YAML ({_short(error)}); fix and commit it.") from None


def planned_params(base: dict, settings: list[str]) -> dict:
    """The params a run will have (nested, as params.yaml): `base` (read_params) with the settings applied as DVC applies `-S`
    (dvc.utils.hydra.apply_overrides, in memory rather than on the file)."""
    from dvc.utils.collections import to_omegaconf
    from dvc.utils.hydra import to_hydra_overrides
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.errors import ConfigCompositionException, OverrideParseException
    from omegaconf import OmegaConf

    try:
        config = OmegaConf.create(to_omegaconf(base), flags={"allow_objects": True})
        OmegaConf.set_struct(config, True)
        ConfigLoaderImpl._apply_overrides_to_config(to_hydra_overrides(settings), config)
    except (ConfigCompositionException, OverrideParseException) as error:
        raise UserError(f"the settings {settings} do not apply to params.yaml ({_short(error)}); a key "
                        "that is not in params.yaml is added with +KEY=VALUE, as `dvc exp run -S`.") from None
    return OmegaConf.to_object(config)


def _short(error: BaseException) -> str:
    cause = error.__cause__ or error
    return " ".join(str(cause).split())[:300] or type(cause).__name__
