"""Shared test set-up: keep caches inside a temp dir and never touch a hub."""

from __future__ import annotations

import os
import tempfile

_CACHE = tempfile.mkdtemp(prefix="aesdata-test-cache-")
os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(_CACHE, "datasets"))
os.environ.setdefault("HF_HOME", os.path.join(_CACHE, "hf"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
