"""Built-in stages; importing this package registers them (see ``aesdata.stage.register``)."""

from aesdata.stages import (  # noqa: F401  # noqa: F401
    dedup,  # noqa: F401
    export,
    generate,
    instructions,
    judge,  # noqa: F401
    read_corpus,
    render,  # noqa: F401
    select,  # noqa: F401
)
