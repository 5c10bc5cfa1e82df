"""Commands with their own module (``run``, ``status``, ``config``), registered on ``cli.app``.

Each module imports ``app`` and ``handle_errors`` from :mod:`qostool.cli` and adds
its commands when imported; ``cli.py`` imports them at its end. Heavy libraries
are imported inside the command functions, so ``qostool --help`` stays instant.
"""
