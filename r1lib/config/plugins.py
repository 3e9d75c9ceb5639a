"""Your own benchmarks and judges, without editing r1lib: plugin modules named in ``R1LIB_PLUGINS``
or declared by an installed package in the entry-point group ``r1lib.plugins``.

A plugin is a Python module that registers what it defines when imported, as r1lib's own modules
do: a benchmark with the :func:`r1lib.benchmarks.spec.benchmark` decorator on its loader, a judge
class with the :func:`r1lib.judges.registry.register` decorator. A package declares its plugin
modules in its ``pyproject.toml``::

    [project.entry-points."r1lib.plugins"]
    my-judges = "my_package.judges"

``R1LIB_PLUGINS`` lists plugins separated by
``os.pathsep`` (``:`` on Linux), each a ``.py`` file (absolute, or relative to the working
directory) or an importable module name::

    export R1LIB_PLUGINS=$PWD/my_benchmark.py:$PWD/my_judge.py

The benchmark and judge registries load them on every lookup (each plugin once per process), so the
CLI, the notebooks and ``r1lib reproduce`` (whose kernels inherit the environment) all see them. In
a notebook, :func:`load_plugin` loads one directly.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from r1lib.core.errors import UserError

ENV = "R1LIB_PLUGINS"
#: The entry-point group an installed package declares its plugin modules in.
ENTRY_POINTS = "r1lib.plugins"
_LOADED: dict[str, ModuleType] = {}


def load_plugins() -> list[ModuleType]:
    """Import every plugin not imported yet: the installed packages' entry points (group
    :data:`ENTRY_POINTS`, by name), then ``R1LIB_PLUGINS`` in order; returns all of them."""
    installed = sorted(entry_points(group=ENTRY_POINTS), key=lambda point: point.name)
    named = [ref for ref in os.environ.get(ENV, "").split(os.pathsep) if ref.strip()]
    return [load_plugin(point.value) for point in installed] + [load_plugin(ref) for ref in named]


def load_plugin(ref: str) -> ModuleType:
    """Import one plugin (a ``.py`` file or a module name), once per process; errors name the plugin."""
    ref = ref.strip()
    if ref in _LOADED:
        return _LOADED[ref]
    try:
        module = _import_file(Path(ref).expanduser()) if ref.endswith(".py") else importlib.import_module(ref)
    except UserError as exc:
        raise UserError(f"plugin {ref}: {exc}") from None
    except Exception as exc:  # a plugin is the user's code: any failure is theirs to fix, said where
        raise UserError(f"plugin {ref} failed to load ({type(exc).__name__}: {exc}); fix it or remove it "
                        f"from {ENV}") from exc
    _LOADED[ref] = module
    return module


def _import_file(path: Path) -> ModuleType:
    """Import a ``.py`` file as the module ``r1lib_plugin_<stem>_<hash of its path>``."""
    if not path.is_file():
        raise UserError(f"{path.resolve()} does not exist; check the path in {ENV}")
    path = path.resolve()
    name = f"r1lib_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
