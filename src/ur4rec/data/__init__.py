"""Datasets: sources, filters, chronological splits and fixed evaluation candidates."""

from ur4rec.data.prepared import PRESETS, PreparedData, prepare_dataset

__all__ = ["PRESETS", "PreparedData", "prepare_dataset"]
