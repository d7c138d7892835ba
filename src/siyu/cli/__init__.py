"""The ``siyu`` command line (Typer + Rich): migrate, serve, worker, create-admin, demo."""
