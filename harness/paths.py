"""Where things live: the repo's fixtures and the user cache (GGUF weights: harness.models.gguf)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES_DIR = REPO_ROOT / "fixtures"

CACHE_ENV = "IOI_CLAIMS_CACHE"


def cache_dir() -> Path:
    """The harness cache: $IOI_CLAIMS_CACHE, else the user cache dir (platformdirs)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ioi-head-claims"))


def current_umask() -> int:
    """The process umask (read without changing it for good). Files the harness writes through
    mkstemp (0600) are chmod-ed to 0666 & ~umask, as the Hugging Face cache does, so a cache shared
    between users works when their umask allows it."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
