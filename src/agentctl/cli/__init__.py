"""Typer apps, one module per command group; thin: parse, call, render."""
