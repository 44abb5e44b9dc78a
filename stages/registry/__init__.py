"""The model registry: the trained models declared as artifacts in dvc.yaml, each registered version's meta
written there from the run's own files (artifacts), and versions and stages as GTO's git tags, `lora@v1.0.0`
and `lora#prod#1`, that `dvc artifacts get` and `dvc.api.artifacts_show` resolve (tags)."""
