"""The command line: ``commands`` (typer; errors mapped to exit codes in one place), ``status``,
``dashboard``, ``init`` and ``demo``. Importing this package imports nothing heavy."""
