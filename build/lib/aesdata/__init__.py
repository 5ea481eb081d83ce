"""aesdata: build, judge and curate datasets of good-looking, working code."""

__version__ = "0.1.0"
