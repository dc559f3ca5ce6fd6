"""A run, end to end: train it (:mod:`.pipeline`), write its results (:mod:`.results`), serve it
(:mod:`.serving`); with what it reads (:mod:`.inputs`) and where it may start (:mod:`.init_from`).
"""
