"""The engine's package: its names load on first use, and a torch-free part never loads torch."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import types

import trainer_api.engine as engine


def test_every_public_name_is_the_object_not_a_module_of_the_same_name():
    for module in pkgutil.iter_modules(engine.__path__):
        __import__(f"trainer_api.engine.{module.name}")  # a submodule import sets an attribute on the package
    for name in engine.__all__:
        assert not isinstance(getattr(engine, name), types.ModuleType), name


def test_the_torch_free_parts_load_without_torch():
    code = (
        "import json, sys\n"
        "import trainer_api.contract, trainer_api.engine.catalog, trainer_api.engine.config, trainer_api.engine.manifest\n"
        "import trainer_api.engine.images, trainer_api.engine.model_header, trainer_api.engine.snippet_text\n"
        "from trainer_api.engine import ARCHITECTURES, TrialConfig\n"
        "TrialConfig(architecture='bn_cnn', input_size=32)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'fastapi'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []
