"""torchrun data-parallel training (filled in by the scale work); None when not under torchrun."""

from __future__ import annotations

import os
from typing import Any


def from_environment() -> Any:
    """A distributed context when launched by torchrun (``WORLD_SIZE`` > 1), else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    raise NotImplementedError("torchrun training is not wired yet")
