"""Built-in stages; importing this package registers them (see ``aesdata.stage.register``)."""

from aesdata.stages import export, read_corpus  # noqa: F401
from aesdata.stages import generate, instructions  # noqa: F401
from aesdata.stages import dedup  # noqa: F401
from aesdata.stages import select  # noqa: F401
from aesdata.stages import render  # noqa: F401
from aesdata.stages import judge  # noqa: F401
