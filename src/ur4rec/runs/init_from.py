"""``training.init_from``: start a run from another run's weights (matching names and shapes).

E.g. a SASRec stage trained once and shared by several retriever ablations (a UR4Rec run's
``best_pretrain_sasrec.pt``, or a plain SASRec run's checkpoint, whose names are read under
``sasrec.``). Which tensors a model takes from the checkpoint is the model's to say
(:meth:`~ur4rec.models.base.Recommender.init_from_part`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ur4rec.data.prepared import PreparedData
from ur4rec.errors import ConfigError
from ur4rec.models.base import Recommender
from ur4rec.training.checkpoint import check_init_from_data, load_checkpoint

log = logging.getLogger(__name__)


def init_from_applies(run_dir: Path, resume: bool) -> bool:
    """``training.init_from`` is loaded unless the run resumes from ``checkpoints/last.pt``
    (which already holds the weights, initialised ones included). A resume that finds no
    ``last.pt`` (the run was killed in its first epoch) starts from scratch, so it loads
    ``init_from`` exactly as the first attempt did."""
    return not (resume and (run_dir / "checkpoints" / "last.pt").is_file())


def init_from(model: Recommender, path: Path, data: PreparedData,
              other_data: bool = False) -> None:
    """Load the parameters of ``path`` whose names and shapes match this model. Fails unless
    the checkpoint was trained on ``data`` (its fingerprint and cold set; ``other_data``: another
    dataset that never trained this run's cold items, see
    :func:`~ur4rec.training.checkpoint.check_init_from_data`) and at least one tensor of the part
    it initialises is loaded."""
    if not Path(path).is_file():
        raise ConfigError(f"training.init_from: checkpoint {path} does not exist (expected a .pt "
                          "file such as RUN/checkpoints/best_pretrain_sasrec.pt)")
    payload = load_checkpoint(Path(path))
    check_init_from_data(payload, Path(path), data, other_data)
    loaded = payload["model"]
    own = model.state_dict()
    prefix, part = model.init_from_part()
    if prefix and not any(k.startswith(prefix) for k in loaded):
        # a plain SASRec run's checkpoint for UR4Rec's SASRec branch: same names under sasrec.
        loaded = {prefix + k: v for k, v in loaded.items()}
    matched = {k: v for k, v in loaded.items() if k in own and own[k].shape == v.shape}
    part_names = [k for k in own if k.startswith(prefix)]
    part_matched = [k for k in matched if k.startswith(prefix)]
    if not part_matched:
        expected = next(iter(part_names), next(iter(own), "?"))
        found = f"{len(matched)} other tensors match" if matched else "no tensor matches"
        raise ConfigError(f"training.init_from: no parameter of {path} matches this model's "
                          f"{part} tensors by name and shape ({found}; expected names like "
                          f"{expected!r})")
    model.load_state_dict(matched, strict=False)
    log.info("training.init_from: %d of %d %s tensors (%d of %d in all) loaded from %s",
             len(part_matched), len(part_names), part, len(matched), len(own), path)
    # buffers not in the checkpoint (e.g. a text-score share) keep their configured values
    parameters = {name for name, _ in model.named_parameters()}
    unloaded = [k for k in part_names if k in parameters and k not in matched]
    if unloaded:
        log.warning("training.init_from: %d %s parameters are not in %s (or differ in shape) "
                    "and keep their random initialisation (e.g. %r)", len(unloaded), part, path,
                    unloaded[0])
