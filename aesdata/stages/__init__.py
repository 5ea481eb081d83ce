"""Built-in stages; importing this package registers them (see ``aesdata.stage.register``)."""

from aesdata.stages import export, read_corpus  # noqa: F401
