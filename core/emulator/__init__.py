"""The amlws local emulator: ARM ``Microsoft.MachineLearning/webServices``, the classic management
API, BES/RRS and Azure ML v2 (``Microsoft.MachineLearningServices``) over HTTPS on 127.0.0.1 (see docs/emulator.md).

``from amlws.emulator import EmulatorServer`` (imported lazily: the CLI registers the
``emulator`` commands without loading the server).
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmulatorServer"]


def __getattr__(name: str) -> Any:
    if name == "EmulatorServer":
        from .server import EmulatorServer

        return EmulatorServer
    raise AttributeError(name)
