"""Checkpoints that refuse to load into the wrong model or catalogue."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ur4rec.errors import CheckpointError


def model_signature(model: nn.Module, model_name: str, num_users: int, num_items: int
                    ) -> dict[str, Any]:
    """What a checkpoint must match: model kind, catalogue size, users, parameter shapes."""
    return {"model": model_name, "num_users": num_users, "num_items": num_items,
            "shapes": {name: list(t.shape) for name, t in model.state_dict().items()}}


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a kill never leaves a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, expected: dict[str, Any] | None = None) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for a damaged file
        raise CheckpointError(f"checkpoint {path} cannot be read ({error})") from None
    if expected is not None:
        check_signature(payload.get("signature", {}), expected, path)
    return payload


def check_signature(found: dict[str, Any], expected: dict[str, Any], path: Path) -> None:
    for key in ("model", "num_items", "num_users"):
        if found.get(key) != expected[key]:
            raise CheckpointError(
                f"checkpoint {path} is for {key} = {found.get(key)!r}, this run has "
                f"{expected[key]!r}; it belongs to another model or dataset"
            )
    for name, shape in expected["shapes"].items():
        if found.get("shapes", {}).get(name) != shape:
            raise CheckpointError(
                f"checkpoint {path}: parameter {name} has shape "
                f"{found.get('shapes', {}).get(name)}, the model expects {shape}"
            )
