"""Registry of the commands beyond data/train/evaluate; each lives with its own part."""

from __future__ import annotations

from typing import Any

REGISTRARS: list[Any] = []
COMMANDS: dict[str, Any] = {}
