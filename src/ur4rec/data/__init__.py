"""Datasets: sources, filters, chronological splits and fixed evaluation candidates."""
