"""amlws: retrain Azure ML models and update their web services, whatever backend serves them.

The public library API lives in the sub-modules; this package stays import-light
because the CLI and every plugin import it on each start.
"""

import importlib
import importlib.machinery
import sys
from typing import Any

import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@amlws.hookimpl``.
hookimpl = pluggy.HookimplMarker("amlws")

__all__ = ["__version__", "hookimpl"]

#: Modules that moved into sub-packages, old import name -> new. Scripts and plugins written
#: against the old names keep working: the old name is the *same module object* (so
#: monkeypatching either name patches both), not a copy.
MOVED_MODULES = {
    "amlws.bes": "amlws.studio.bes",
    "amlws.blob": "amlws.azure.blob",
    "amlws.clihelp": "amlws.cli.help",
    "amlws.commands_fleet": "amlws.cli.fleet",
    "amlws.commands_retrain": "amlws.cli.retrain",
    "amlws.commands_safety": "amlws.cli.safety",
    "amlws.history": "amlws.safety.history",
    "amlws.jobconfig": "amlws.studio.jobconfig",
    "amlws.modelcheck": "amlws.safety.modelcheck",
    "amlws.retrain": "amlws.studio.retrain",
    "amlws.rollback": "amlws.safety.rollback",
    "amlws.rrs": "amlws.studio.rrs",
}


class _MovedModules:
    """Resolves an old module name (:data:`MOVED_MODULES`) to the module at its new place.

    A meta-path finder and loader by protocol (``find_spec``, ``create_module``, ``exec_module``),
    not by subclassing ``importlib.abc``: that import pulls in ``importlib.resources`` and
    ``tempfile`` (~40 ms cold), on every start of the CLI and of every plugin."""

    def __init__(self) -> None:
        self._specs: dict[str, Any] = {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)  # type: ignore[arg-type]  # a Loader by protocol

    def create_module(self, spec: Any) -> Any:
        module = importlib.import_module(MOVED_MODULES[spec.name])
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: Any) -> None:
        # the import system has just set the alias's spec on the module: give it its own back
        module.__spec__ = self._specs.get(module.__name__, module.__spec__)


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())
