"""``az {{ cookiecutter.plugin_name }}``: the commands themselves.

Imported only when one of them runs or shows its own ``--help``; heavy
libraries still belong inside the functions that use them.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="{{ cookiecutter.description }}.", no_args_is_help=True)


@app.command("greet")
def greet(name: str = typer.Option("world", help="Who to greet.")) -> None:
    """Print a greeting."""
    print(f"Hello, {name}! ({{ cookiecutter.distribution }})")
