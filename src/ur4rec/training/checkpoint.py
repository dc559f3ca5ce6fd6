"""Checkpoints that refuse to load into the wrong model or catalogue, and that say which data
they were trained on, so ``training.init_from`` refuses weights from other data."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ur4rec.data.prepared import PreparedData
from ur4rec.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)


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


def data_record(data: PreparedData) -> dict[str, Any]:
    """What every checkpoint records of the prepared data it was trained on: the data's
    ``fingerprint`` (``meta.json``), its catalogue ``items`` and its ``cold_items`` (original ids,
    as strings). The items its weights were trained on are ``items`` minus ``cold_items``
    (:func:`trained_items`): cold items are kept out of every loss, every other item is a target
    or a negative."""
    items = [str(item) for item in data.item_ids[1:]]
    cold = sorted(str(data.item_ids[index]) for index in data.cold_items)
    return {"fingerprint": data.meta.get("fingerprint"), "items": items, "cold_items": cold}


def trained_items(record: dict[str, Any]) -> set[str]:
    """Original ids of the items a checkpoint's weights were trained on (:func:`data_record`)."""
    return set(record["items"]) - set(record["cold_items"])


def check_init_from_data(payload: dict[str, Any], path: Path, data: PreparedData,
                         other_data: bool) -> None:
    """Refuse ``training.init_from`` weights trained on other data than ``data``: another
    fingerprint, or another cold set — the run's cold items could have been trained, and its
    cold metrics would measure memory, not cold start (docs/run-directory.md). ``other_data``
    (``training.init_from_other_data``) allows other data when no cold item of this run is among
    the checkpoint's trained items."""
    record = payload.get("data")
    if not isinstance(record, dict) or not record.get("fingerprint"):
        raise ConfigError(f"training.init_from: {path} does not record the data it was trained "
                          "on (a checkpoint written before checkpoints recorded it); train that "
                          "run again with this ur4rec and start from its new checkpoint")
    mine = data_record(data)
    if record["fingerprint"] == mine["fingerprint"] and record["cold_items"] == mine["cold_items"]:
        return
    if not other_data:
        raise ConfigError(
            f"training.init_from: {path} was trained on prepared data {record['fingerprint']} "
            f"({len(record['cold_items'])} cold items), this run's is {mine['fingerprint']} "
            f"({len(mine['cold_items'])} cold items): its weights may have learned items this run "
            "holds out; start from a checkpoint of this data, or set "
            "training.init_from_other_data: true to use another dataset's")
    trained_cold = sorted(set(mine["cold_items"]) & trained_items(record))
    if trained_cold:
        raise ConfigError(
            f"training.init_from_other_data: {len(trained_cold)} of this run's "
            f"{len(mine['cold_items'])} cold items (e.g. {', '.join(trained_cold[:3])}) were "
            f"trained by {path} (data {record['fingerprint']}), so they would not be cold; "
            "start from a checkpoint that never trained them")
    log.warning("training.init_from: %s was trained on other data (%s, this run's %s); none of "
                "this run's %d cold items was trained by it (training.init_from_other_data)",
                path, record["fingerprint"], mine["fingerprint"], len(mine["cold_items"]))
