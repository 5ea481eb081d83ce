"""Built-in stages: importing this package registers them (see ``aesdata.stage.register``).

``registry()`` is how the pipeline loader and the CLI find stages by name: the built-in ones plus any a
plugin module registered. Stage modules never import each other: shared helpers live in library
modules (``aesdata.records``, ``aesdata.resources``...).
"""

from aesdata.stage import Stage, registered
from aesdata.stages import (  # noqa: F401  (importing registers them)
    dedup,
    export,
    generate,
    instructions,
    judge,
    read_corpus,
    render,
    select,
)


def registry() -> dict[str, type[Stage]]:
    """Every registered stage by name: the built-in ones and those of imported plugins."""
    return registered()
