"""``python -m ur4rec`` (and ``torchrun -m ur4rec``) runs the command-line interface."""

from ur4rec.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
