"""Which output folder a training run may write into, and clearing one on ``--overwrite``.

A run writes ``checkpoints/best_<stage>.pt``, ``metrics.jsonl`` and ``results.json`` into its
folder and reads some of them back (a diverged stage restores its last finite best). A second run
written into the folder of a first one therefore mixed the two: it restored the first run's best
weights and reported their test metrics beside its own config (docs/run-directory.md). So a folder that
holds anything is refused unless the run resumes it (``--resume``) or replaces it
(``--overwrite``), and ``--overwrite`` only clears a folder that is a ur4rec run and holds none of
the run's own inputs.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ur4rec.config import RunConfig, dump_config, load_config, resolved_dict
from ur4rec.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

# what a run writes first (config.yaml) and what every run writes (run.json): either one marks
# a folder that --overwrite may clear
RUN_MARKERS = ("config.yaml", "run.json")


def check_output_folder(run_dir: Path, *, resume: bool, overwrite: bool,
                        inputs: dict[str, Path]) -> None:
    """Refuse a run that would mix with what ``run_dir`` holds (module docstring).

    ``inputs`` names the paths the run reads (config file, data, checkpoints, texts) by where
    they come from, e.g. ``{"training.init_from": Path(...)}``: ``--overwrite`` refuses a folder
    that holds one, since clearing it would delete what the run is about to read.
    """
    if resume and overwrite:
        raise ConfigError("--resume continues the run in the output folder and --overwrite "
                          "clears it: choose one")
    if resume or not _holds_anything(run_dir):
        return
    if not overwrite:
        raise ConfigError(f"output folder {run_dir} is not empty: continue the run in it with "
                          "--resume (resume=True), replace it with --overwrite "
                          "(overwrite=True), or choose another --output_dir")
    _check_clearable(run_dir, inputs)


def input_paths(config: RunConfig, config_file: Path | None, data_dir: Path | None,
                llm_data_dir: Path | None) -> dict[str, Path]:
    """Every path the run reads, by where it is set (``--overwrite`` must not delete one)."""
    inputs = dict(config_paths(config))
    for key, value in (("--config", config_file), ("--data_dir", data_dir),
                       ("--llm_data_dir", llm_data_dir)):
        if value is not None:
            inputs[key] = Path(value)
    return inputs


def check_resumable(run_dir: Path, config: RunConfig) -> None:
    """``--resume`` continues a run only with the config it was started with."""
    saved = run_dir / "config.yaml"
    if not saved.exists():
        raise CheckpointError(f"--resume: {run_dir} has no config.yaml; nothing to resume")
    if resolved_dict(load_config(saved)) != resolved_dict(config):
        raise ConfigError(f"--resume: the config differs from the one {run_dir} was started with "
                          f"({saved}); resume with the same config")


def open_run_folder(run_dir: Path, config: RunConfig, overwrite: bool) -> None:
    """The folder, cleared first with ``overwrite`` (only now: a config or data error before
    leaves the old run as it was), with the resolved ``config.yaml``."""
    if overwrite:
        clear_output_folder(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(config, run_dir / "config.yaml")


def clear_output_folder(run_dir: Path) -> None:
    """Delete everything inside ``run_dir`` (kept itself); call after
    :func:`check_output_folder` passed with ``overwrite``."""
    if not _holds_anything(run_dir):
        return
    for entry in run_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    log.info("--overwrite: cleared %s", run_dir)


def config_paths(section: BaseModel, prefix: str = "") -> Iterator[tuple[str, Path]]:
    """``(dotted key, path)`` of every path-valued key set in a config (section), e.g.
    ``("training.init_from", Path("runs/a/checkpoints/final.pt"))``."""
    for name in type(section).model_fields:
        value: Any = getattr(section, name)
        key = f"{prefix}{name}"
        if isinstance(value, Path):
            yield key, value
        elif isinstance(value, BaseModel):
            yield from config_paths(value, key + ".")


def _holds_anything(run_dir: Path) -> bool:
    return run_dir.is_dir() and any(run_dir.iterdir())


def _check_clearable(run_dir: Path, inputs: dict[str, Path]) -> None:
    """``--overwrite`` clears a ur4rec run folder only: not the working directory or a folder
    above it, not a folder without a run's marker files, not one that holds an input."""
    folder = run_dir.resolve()
    if folder == Path.cwd().resolve() or folder in Path.cwd().resolve().parents:
        raise ConfigError(f"--overwrite: {run_dir} is the working directory or holds it; "
                          "choose a run folder below it as --output_dir")
    if not any((run_dir / marker).exists() for marker in RUN_MARKERS):
        raise ConfigError(f"--overwrite: {run_dir} holds files but no {' or '.join(RUN_MARKERS)}"
                          ", so it is not a ur4rec run folder; --overwrite clears only those: "
                          "empty it yourself or choose another --output_dir")
    for key, path in inputs.items():
        if path.resolve() == folder or folder in path.resolve().parents:
            raise ConfigError(f"--overwrite would delete {path} ({key}), which lies in the "
                              f"output folder {run_dir}; move it out or choose another "
                              "--output_dir")
