"""``python -m aesdata`` runs the CLI."""

from aesdata.cli import app

app()
