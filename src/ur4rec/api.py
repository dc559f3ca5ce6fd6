"""The Python API; the ``ur4rec`` command is a thin layer over these functions.

>>> from ur4rec import api
>>> results = api.train("configs/sasrec_ml100k.yaml", "runs/sasrec")   # doctest: +SKIP
>>> api.recommend("runs/sasrec", user="196", k=10)                    # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ur4rec import __version__
from ur4rec.config import RunConfig, dump_config, load_config, resolved_dict
from ur4rec.data.features import load_item_features
from ur4rec.data.prepared import (
    PreparedData,
    check_same_data,
    default_prepared_dir,
    prepare_dataset,
)
from ur4rec.diagnostics.plots import plot_run
from ur4rec.diagnostics.report import write_diagnosis
from ur4rec.errors import CheckpointError, ConfigError, UR4RecError
from ur4rec.evaluation.cold import CaseUserTexts, cold_results
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.evaluation.metrics import random_guess_expectation
from ur4rec.evaluation.routing import routing_by_slice
from ur4rec.evaluation.slices import results_slices
from ur4rec.models.base import Recommender, UserBatch
from ur4rec.models.factory import build_model, count_parameters
from ur4rec.models.ur4rec import TextInputs
from ur4rec.retrieval.search import faiss_topk_for_run, scorer_for, use_faiss
from ur4rec.training.checkpoint import (
    check_init_from_data,
    data_record,
    load_checkpoint,
    model_signature,
    save_checkpoint,
)
from ur4rec.training.run_folder import (
    check_output_folder,
    clear_output_folder,
    config_paths,
)
from ur4rec.training.trainer import (
    Trainer,
    deterministic_kernels,
    resolve_device,
    seed_everything,
)

log = logging.getLogger(__name__)


def _as_config(config: RunConfig | str | Path, overrides: dict[str, Any] | None = None
               ) -> RunConfig:
    if isinstance(config, RunConfig):
        if overrides:
            raise ConfigError("overrides apply to a config file; edit the RunConfig instead")
        return config
    return load_config(config, overrides)


def prepare_data(config: RunConfig, data_dir: Path | None = None) -> PreparedData:
    """The prepared dataset the run uses (prepared now if it is not on disk yet)."""
    return prepare_dataset(config.data, data_dir or default_prepared_dir(config.data))


def _model_inputs(config: RunConfig, data: PreparedData, run_dir: Path,
                  llm_data_dir: Path | None) -> tuple[dict[str, Any] | None, Any]:
    """Text (and image) vectors for the text models: a summary for the logs, and the inputs."""
    text_sasrec = config.model == "sasrec" and config.sasrec.item_text == "adapter"
    if config.model not in ("retriever", "ur4rec", "text_zero_shot", "text_to_id") \
            and not text_sasrec:
        return None, None
    from ur4rec.text.pipeline import texts_for_run  # the text stack loads only when needed

    texts = texts_for_run(config, data, run_dir, llm_data_dir)
    summary = texts.describe()
    train_view = None
    reads_user_text = (config.model in ("retriever", "ur4rec")
                       and "user_text" in config.retriever.experts)
    if reads_user_text and summary.get("origin") != "imported":
        from ur4rec.text.training_view import training_view_user_vectors  # the text stack

        train_view, summary["training_view"] = training_view_user_vectors(
            config, data, config.retriever.train_window)
    elif reads_user_text:
        # imported texts were written from a history we do not know: they cannot be cut before
        # the training targets, so training reads them as they are — said, never silent
        summary["training_view"] = {
            "status": "not built: imported user texts come from an unknown history, so "
                      "training positions read the same imported text as evaluation",
            "leak_free": False}
        log.warning("imported user texts: no training view can be written before the "
                    "retriever's training targets; training reads the imported texts as they "
                    "are (results.json texts.training_view)")
    image = None
    if config.retriever.image_features is not None:
        image, counts = load_item_features(config.retriever.image_features, data)
        summary["image_features"] = {"path": str(config.retriever.image_features), **counts}
    return summary, TextInputs(texts.user_vectors, texts.item_vectors, image, train_view)


def train(config: RunConfig | str | Path, output_dir: str | Path, *, resume: bool = False,
          overwrite: bool = False,
          overrides: dict[str, Any] | None = None, data_dir: str | Path | None = None,
          llm_data_dir: str | Path | None = None, progress: bool = True,
          tensorboard: bool = False, distributed: Any = None,
          callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Prepare data (and texts), train every stage, evaluate the best model, write the run.

    Returns the ``results.json`` content. With ``resume`` the run continues from
    ``output_dir/checkpoints/last.pt`` and ends with the metrics an uninterrupted run would have
    (``training.init_from`` is loaded again when the run stopped before its first ``last.pt``;
    texts the run imported with ``llm_data_dir`` are read again from that folder, for training
    and evaluation alike, when ``llm_data_dir`` is not given — refused if it holds none now).
    ``callbacks`` receive each epoch's ``metrics.jsonl`` row (an exception stops training).
    An ``output_dir`` that holds anything is refused unless ``resume`` continues it or
    ``overwrite`` replaces it: its contents are deleted once the config is valid and the data
    prepared (only a ur4rec run folder that holds none of the run's inputs; see
    :mod:`ur4rec.training.run_folder`).
    """
    started = time.perf_counter()
    config_file = None if isinstance(config, RunConfig) else Path(config)
    run_config = _as_config(config, overrides)
    check_output_folder(Path(output_dir), resume=resume, overwrite=overwrite,
                        inputs=_input_paths(run_config, config_file, data_dir, llm_data_dir))
    device = resolve_device(run_config.training.device)
    with deterministic_kernels(run_config.training.deterministic, device):
        return _train(run_config, Path(output_dir), started, resume=resume, overwrite=overwrite,
                      data_dir=data_dir, llm_data_dir=llm_data_dir, progress=progress,
                      tensorboard=tensorboard, distributed=distributed, callbacks=callbacks)


def _input_paths(config: RunConfig, config_file: str | Path | None,
                 data_dir: str | Path | None, llm_data_dir: str | Path | None
                 ) -> dict[str, Path]:
    """Every path the run reads, by where it is set (``--overwrite`` must not delete one)."""
    inputs = dict(config_paths(config))
    for key, value in (("--config", config_file), ("--data_dir", data_dir),
                       ("--llm_data_dir", llm_data_dir)):
        if value is not None:
            inputs[key] = Path(value)
    return inputs


def _train(config: RunConfig, run_dir: Path, started: float, *, resume: bool, overwrite: bool,
           data_dir: str | Path | None, llm_data_dir: str | Path | None, progress: bool,
           tensorboard: bool, distributed: Any, callbacks: list[Any] | None) -> dict[str, Any]:
    """The body of :func:`train`, under the run's kernel setting."""
    is_main = distributed is None or distributed.is_main
    if resume:
        _check_resumable(run_dir, config)
    def first(work: Any) -> Any:  # under torchrun rank 0 fills the caches, then the others
        return work() if distributed is None else distributed.main_first(work)

    data = first(lambda: prepare_data(config, Path(data_dir) if data_dir else None))
    prepared_s = time.perf_counter() - started
    if is_main:
        if overwrite:  # only now: a config or data error leaves the old run as it was
            clear_output_folder(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(config, run_dir / "config.yaml")
    device = resolve_device(config.training.device)
    if distributed is not None:
        device = distributed.device(device)
    if device.type == "cpu" and distributed is None:
        torch.set_num_threads(max(1, torch.get_num_threads()))
    seed_everything(config.training.seed)
    texts_started = time.perf_counter()
    texts, inputs = first(lambda: _model_inputs(config, data, run_dir,
                                                Path(llm_data_dir) if llm_data_dir else None))
    if texts is not None and config.model in ("retriever", "ur4rec") and is_main:
        from ur4rec.text.item_exposure import item_exposure_for_run  # the text stack

        texts["item_exposure"] = item_exposure_for_run(config, data, texts)  # docs/texts.md
    texts_s = time.perf_counter() - texts_started
    seed_everything(config.training.seed)
    model = build_model(config, data, inputs)
    if config.training.init_from is not None and _init_from_applies(run_dir, resume):
        _init_from(model, config.training.init_from, data,
                   config.training.init_from_other_data)
    evaluator = Evaluator(data, config.evaluation, scorer_for(model, data, config.evaluation))
    info = _run_info(config, data, model, texts)
    if is_main:
        (run_dir / "run.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    log.info("%s on %s: %d users, %d items, %s parameters (%.0f per user)", config.model,
             data.name, data.num_users, data.num_items, f"{info['parameters']:,}",
             info["parameters_per_user"])
    train_started = time.perf_counter()
    summary: dict[str, Any] = {"stages": [], "train_seconds": 0.0}
    if getattr(model, "trainable", True) and config.resolved_stages():
        writer = _tensorboard_writer(run_dir) if tensorboard and is_main else None
        trainer = Trainer(model, config.model, data, config, run_dir, device, evaluator,
                          progress=progress, writer=writer, is_main=is_main,
                          callbacks=callbacks)
        if distributed is not None:
            distributed.attach(trainer)
        summary = trainer.fit(resume=resume)
        if writer is not None:
            writer.close()
    elif is_main:
        save_checkpoint(run_dir / "checkpoints" / "final.pt", {
            "signature": model_signature(model, config.model, data.num_users, data.num_items),
            "data": data_record(data), "model": model.state_dict()})
    train_s = time.perf_counter() - train_started
    if not is_main:
        return {}
    eval_started = time.perf_counter()
    model.to(device)
    results = _results(config, data, model, evaluator, device, info)
    case_texts = _case_user_texts(config, data, model, texts)  # data.cold_items, user state
    results.update(cold_results(model, data, config.evaluation, device, case_texts))
    routing = routing_by_slice(model, data, case_texts)  # a routed MoE only
    if routing:
        results["routing_by_slice"] = routing
    if "fusion_selection" in summary:
        results["fusion_selection"] = summary["fusion_selection"]
    fit_summary = getattr(model, "fit_summary", None)  # what a closed-form model chose
    if fit_summary is not None:
        results["fit"] = fit_summary()
    if is_main and len(summary["stages"]) > 1:
        results["stage_results"] = _stage_results(model, run_dir, evaluator, device,
                                                  summary["stages"])
    eval_s = time.perf_counter() - eval_started
    epochs = sum(stage["epochs"] for stage in summary["stages"])
    results["timing"] = {
        "prepare_s": round(prepared_s, 3), "texts_s": round(texts_s, 3),
        "train_s": round(train_s, 3), "evaluate_s": round(eval_s, 3),
        "total_s": round(time.perf_counter() - started, 3), "epochs": epochs,
        "seconds_per_epoch": round(summary["train_seconds"] / epochs, 3) if epochs else 0.0,
        "stages": summary["stages"],
        "device": str(device),
    }
    _write_results(run_dir, results)
    _after_training(run_dir)
    return results


def _case_user_texts(config: RunConfig, data: PreparedData, model: Recommender,
                     run_texts: dict[str, Any] | None) -> CaseUserTexts | None:
    """What writes each cold case's user text from the interactions before its target
    (:mod:`ur4rec.text.case_texts`), for a model that reads per-user state on data with cold
    items; None otherwise. ``run_texts``: the run's texts record (``results.json["texts"]``)."""
    if not model.reads_user_state or not len(data.cold_items):
        return None
    from ur4rec.text.case_texts import cold_case_user_vectors  # the text stack

    return partial(cold_case_user_vectors, config, data, run_texts=run_texts)


def _check_resumable(run_dir: Path, config: RunConfig) -> None:
    saved = run_dir / "config.yaml"
    if not saved.exists():
        raise CheckpointError(f"--resume: {run_dir} has no config.yaml; nothing to resume")
    previous = load_config(saved)
    if resolved_dict(previous) != resolved_dict(config):
        raise ConfigError(f"--resume: the config differs from the one {run_dir} was started with "
                          f"({saved}); resume with the same config")


def _tensorboard_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise UR4RecError("--tensorboard needs the tensorboard package: pip install "
                          f"'ur4rec[tensorboard]' ({error})") from None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _after_training(run_dir: Path) -> None:
    """Plots and the diagnosis are written at the end of every run (best effort for plots)."""
    write_diagnosis(run_dir)
    try:
        plot_run(run_dir)
    except ImportError as error:  # matplotlib is an optional extra
        log.warning("plots skipped: %s", error)


def _run_info(config: RunConfig, data: PreparedData, model: Recommender,
              texts: dict[str, Any] | None) -> dict[str, Any]:
    parameters = count_parameters(model)
    info = {
        "ur4rec_version": __version__, "model": config.model, "name": config.name,
        "dataset": data.summary(), "prepared_dir": str(data.folder),
        "data_fingerprint": data.meta.get("fingerprint"),
        "parameters": parameters, "parameters_per_user": parameters / max(data.num_users, 1),
        "stages": config.resolved_stages(),
        "batches_per_epoch": -(-sum(1 for s in data.train_sequences if len(s) > 1)
                               // config.training.batch_size),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
    }
    if texts is not None:
        info["texts"] = texts
    return info


def _results(config: RunConfig, data: PreparedData, model: Recommender, evaluator: Evaluator,
             device: torch.device, info: dict[str, Any]) -> dict[str, Any]:
    test = evaluator.evaluate(model, "test", device)
    valid = evaluator.evaluate(model, "valid", device)
    results = {
        "model": config.model, "name": config.name, "test": test.metrics, "valid": valid.metrics,
        "slices": results_slices(valid=valid, test=test),
        "dataset": data.summary(), "parameters": info["parameters"],
        "protocol": {"num_candidates": int(data.valid_candidates.shape[1]),
                     "ties": config.evaluation.ties, "mask_history": config.evaluation.mask_history,
                     "selection": f"valid {config.evaluation.protocol} {config.evaluation.metric}",
                     "chance_sampled": random_guess_expectation(
                         int(data.valid_candidates.shape[1]), config.evaluation.ks)},
    }
    if "texts" in info:
        results["texts"] = info["texts"]
        results["leaky"] = bool(info["texts"].get("possibly_leaking"))
    return results


def _init_from_applies(run_dir: Path, resume: bool) -> bool:
    """``training.init_from`` is loaded unless the run resumes from ``checkpoints/last.pt``
    (which already holds the weights, initialised ones included). A resume that finds no
    ``last.pt`` (the run was killed in its first epoch) starts from scratch, so it loads
    ``init_from`` exactly as the first attempt did."""
    return not (resume and (run_dir / "checkpoints" / "last.pt").is_file())


def _init_from_part(model: Recommender) -> tuple[str, str]:
    """``(name prefix, description)`` of the tensors ``training.init_from`` is for: the SASRec
    branch of a UR4Rec model (``sasrec.*``), all tensors of any other model (e.g. SASRec)."""
    if getattr(model, "sasrec", None) is not None:
        return "sasrec.", "SASRec (sasrec.*)"
    return "", type(model).__name__


def _init_from(model: Recommender, path: Path, data: PreparedData,
               other_data: bool = False) -> None:
    """Load the parameters of ``path`` whose names and shapes match this model, e.g. a
    SASRec stage trained once and shared by several retriever ablations (a UR4Rec run's
    ``best_pretrain_sasrec.pt``, or a plain SASRec run's checkpoint, whose names are read under
    ``sasrec.``). Fails unless the checkpoint was trained on ``data`` (its fingerprint and cold
    set; ``other_data``: another dataset that never trained this run's cold items, see
    :func:`~ur4rec.training.checkpoint.check_init_from_data`) and at least one tensor of the part
    it initialises (see :func:`_init_from_part`) is loaded."""
    if not Path(path).is_file():
        raise ConfigError(f"training.init_from: checkpoint {path} does not exist (expected a .pt "
                          "file such as RUN/checkpoints/best_pretrain_sasrec.pt)")
    payload = load_checkpoint(Path(path))
    check_init_from_data(payload, Path(path), data, other_data)
    loaded = payload["model"]
    own = model.state_dict()
    prefix, part = _init_from_part(model)
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
    if len(part_matched) < len(part_names):
        log.warning("training.init_from: %d %s tensors are not in %s (or differ in shape) and "
                    "keep their random initialisation", len(part_names) - len(part_matched),
                    part, path)


def _stage_results(model: Recommender, run_dir: Path, evaluator: Evaluator,
                   device: torch.device, stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Test and validation metrics of each stage's best checkpoint, scored as that stage
    scores (``pretrain_sasrec``: SASRec alone), so one run shows what each stage added on the
    same weights. The model is left at its final weights."""
    final_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    final_scoring = getattr(model, "scoring", None)
    rows = []
    for summary in stages:
        path = run_dir / "checkpoints" / f"best_{summary['stage']}.pt"
        if not path.exists():
            continue
        model.load_state_dict(load_checkpoint(path)["model"])
        if hasattr(model, "on_stage_start"):
            model.on_stage_start(summary["stage"])
        rows.append({"stage": summary["stage"],
                     "test": evaluator.evaluate(model, "test", device).metrics,
                     "valid": evaluator.evaluate(model, "valid", device).metrics})
    model.load_state_dict(final_state)
    if final_scoring is not None:
        model.scoring = final_scoring
    return rows


def _write_results(run_dir: Path, results: dict[str, Any]) -> None:
    (run_dir / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


@dataclass
class LoadedRun:
    """A trained run: its config, data and model at the best weights.

    For serving one user at a time on a CPU, ``torch.set_num_threads(1)`` is much faster than
    the default (the work per call is too small to share between threads).
    """

    run_dir: Path
    config: RunConfig
    data: PreparedData
    model: Recommender
    device: torch.device

    @cached_property
    def user_lookup(self) -> dict[str, int]:
        return {str(uid): index for index, uid in enumerate(self.data.user_ids)}

    @cached_property
    def item_table(self) -> list[tuple[Any, Any, int | None]]:
        """(original id, title, year) per item index; index 0 is padding."""
        rows: list[tuple[Any, Any, int | None]] = [(None, None, None)]
        for record in self.data.items.sort_values("item_idx").itertuples(index=False):
            year = None if record.year is None or pd.isna(record.year) else int(record.year)
            rows.append((_plain_id(record.item), record.title, year))
        return rows

    def user_index(self, user: Any) -> int:
        if str(user) not in self.user_lookup:
            raise UR4RecError(f"user {user!r} is not in dataset {self.data.name!r}")
        return self.user_lookup[str(user)]


def load_run(run_dir: str | Path, device: str = "cpu") -> LoadedRun:
    """Rebuild the model of ``run_dir`` and load ``checkpoints/final.pt``."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise UR4RecError(f"{run_dir} is not a run directory (no config.yaml)")
    config = load_config(config_path)
    info_path = run_dir / "run.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    prepared = Path(info["prepared_dir"]) if info.get("prepared_dir") else None
    folder = prepared if prepared is not None and prepared.exists() else None
    check_same_data(info.get("data_fingerprint"), config.data, folder, run_dir)
    data = prepare_data(config, folder)
    _, inputs = _model_inputs(config, data, run_dir, None)
    model = build_model(config, data, inputs)
    payload = load_checkpoint(run_dir / "checkpoints" / "final.pt",
                              model_signature(model, config.model, data.num_users,
                                              data.num_items))
    model.load_state_dict(payload["model"])
    finish = getattr(model, "on_training_end", None)
    if finish is not None:
        finish(config.resolved_stages(), config.training.init_from is not None)
    torch_device = resolve_device(device)
    model.to(torch_device).eval()
    return LoadedRun(run_dir, config, data, model, torch_device)


def evaluate(run_dir: str | Path, save_ranks: str | Path | None = None, device: str = "cpu"
             ) -> dict[str, Any]:
    """Re-evaluate a run's final model on both splits, the cold items and (a routed MoE) the
    routing by slice; optionally write per-user ranks."""
    run = load_run(run_dir, device)
    evaluator = Evaluator(run.data, run.config.evaluation,
                          scorer_for(run.model, run.data, run.config.evaluation))
    started = time.perf_counter()
    test = evaluator.evaluate(run.model, "test", run.device, details=save_ranks is not None)
    valid = evaluator.evaluate(run.model, "valid", run.device)
    results_path = Path(run_dir) / "results.json"
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    results.update({"test": test.metrics, "valid": valid.metrics, "dataset": run.data.summary(),
                    "slices": results_slices(valid=valid, test=test)})
    record = Path(run_dir) / "texts.json"  # how the run's user texts were made
    run_texts = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
    case_texts = _case_user_texts(run.config, run.data, run.model, run_texts)
    results.update(cold_results(run.model, run.data, run.config.evaluation, run.device,
                                case_texts))
    routing = routing_by_slice(run.model, run.data, case_texts)  # a routed MoE only
    if routing:
        results["routing_by_slice"] = routing
    results.setdefault("timing", {})["evaluate_s"] = round(time.perf_counter() - started, 3)
    _write_results(Path(run_dir), results)
    if save_ranks is not None:
        write_ranks(Path(save_ranks), run.data, test.details)
    return results


def write_ranks(path: Path, data: PreparedData, details: dict[str, Any]) -> None:
    """JSON Lines, one test user per line, in the dataset's original ids."""
    item_ids, user_ids = data.item_ids, data.user_ids
    candidates = details["candidates"].numpy()
    scores = details["scores"].numpy()
    ranks = details["full_rank"].numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for user in range(len(candidates)):
            rank = float(ranks[user])
            handle.write(json.dumps({
                "user": _plain_id(user_ids[user]),
                "target": _plain_id(item_ids[candidates[user, 0]]),
                "candidates": [_plain_id(item_ids[i]) for i in candidates[user]],
                "scores": [float(s) for s in scores[user]],
                "full_rank": int(rank) if rank.is_integer() else rank,
            }) + "\n")


def _plain_id(value: Any) -> Any:
    text = str(value)
    return int(text) if text.isdigit() else text


def recommend(run: LoadedRun | str | Path, user: Any, k: int = 10,
              exclude_history: bool = True) -> list[dict[str, Any]]:
    """Top-``k`` items for one user (original id) after their whole known history."""
    if not isinstance(run, LoadedRun):
        run = load_run(run)
    index = run.user_index(user)
    if use_faiss(run.model, run.data.num_items):  # large catalogue: vector index, no score row
        return faiss_topk_for_run(run, [user], k, exclude_history)[0]
    history = run.data.sequences[index]
    recent = torch.from_numpy(np.array(history[-run.model.max_seq_len:], dtype=np.int64))
    batch = UserBatch(torch.tensor([index]), recent.unsqueeze(0))
    with torch.no_grad():
        scores = run.model.score_all(batch.to(run.device)).float().cpu()[0]
    scores[0] = -torch.inf
    if exclude_history:
        scores[torch.from_numpy(np.array(history, dtype=np.int64))] = -torch.inf
    top = torch.topk(scores, min(k, int(torch.isfinite(scores).sum())))
    out = []
    for score, item in zip(top.values.tolist(), top.indices.tolist(), strict=True):
        original, title, year = run.item_table[item]
        out.append({"item": original, "title": title, "year": year, "score": float(score)})
    return out


def format_results_table(results: dict[str, Any]) -> str:
    """A markdown table of the test metrics on both protocols, and of the cold items when the
    data has them (all cold items, then each half: choose on valid, quote test)."""
    keys = ["hit@5", "hit@10", "hit@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr", "avg_rank"]
    lines = ["| protocol | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    rows = [(f"test {protocol}", results["test"][protocol]) for protocol in ("sampled", "full")]
    cold = results.get("cold", {})
    rows += [(f"cold {protocol}", cold.get("metrics", {}).get(protocol))
             for protocol in ("sampled", "full")]
    rows += [(f"cold full, {half} half", cold.get(half, {}).get("metrics", {}).get("full"))
             for half in ("valid", "test")]
    for name, metrics in rows:
        if metrics:  # a cold row only where the data has cold cases
            lines.append(f"| {name} | " + " | ".join(
                f"{metrics[k]:.1f}" if k == "avg_rank" else f"{metrics[k]:.4f}" for k in keys)
                + " |")
    dataset = results.get("dataset", {})
    header = (f"{results.get('model', '?')} on {dataset.get('name', '?')} "
              f"({dataset.get('users')} users, {dataset.get('items')} items)")
    if results.get("leaky"):
        sides = results.get("texts", {}).get("sides", {})
        items = sides.get("items", {}).get("possibly_leaking")
        users = sides.get("users", {}).get("possibly_leaking", not items)
        header += " — LEAKY: " + "; ".join(
            note for flagged, note in ((users, "user texts may contain validation/test items"),
                                       (items, "item texts may quote held-out interactions"))
            if flagged)
    return header + "\n" + "\n".join(lines)
