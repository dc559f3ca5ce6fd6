"""ur4rec: sequential recommendation that fuses SASRec with an MoE retriever over LLM-written text.

The public Python API lives in :mod:`ur4rec.api`; the ``ur4rec`` command is a thin layer over it.
"""

__version__ = "0.1.0"
