"""Commands beyond data/train/evaluate: each part of the package registers its own.

A part module offers ``register(subparsers)`` and ``COMMANDS`` (name → handler taking the
parsed arguments and returning an exit code).
"""

from __future__ import annotations

import importlib
from typing import Any

PARTS = ("ur4rec.text.cli", "ur4rec.diagnostics.cli", "ur4rec.scale.cli")

REGISTRARS: list[Any] = []
COMMANDS: dict[str, Any] = {}

for _name in PARTS:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _error:
        if not _error.name or not _name.startswith(_error.name):  # a dependency is missing
            raise
        continue  # the part is not installed in this tree
    REGISTRARS.append(_module.register)
    COMMANDS.update(_module.COMMANDS)
