"""Commands with their own module (``run``, ``status``, ``config``), registered on ``app.app``.

Each module imports ``app`` and ``handle_errors`` from :mod:`qostool.app` and adds
its commands when imported; ``cli.py`` imports them (and nothing imports ``cli.py``).
Heavy libraries are imported inside the command functions, so ``qostool --help``
stays instant.
"""
