"""Where things live: the repo's fixtures and the user cache (GGUF weights: harness.models.gguf)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from harness.errors import InputError

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES_DIR = REPO_ROOT / "fixtures"

CACHE_ENV = "IOI_CLAIMS_CACHE"


def cache_dir() -> Path:
    """The harness cache: $IOI_CLAIMS_CACHE, else the user cache dir (platformdirs)."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:  # set: it must say where, absolutely (an empty or relative value would move with the cwd)
        if not env.strip():
            raise InputError(f"{CACHE_ENV} is set but empty: unset it for the default cache, or give an absolute folder")
        path = Path(env).expanduser()
        if not path.is_absolute():
            raise InputError(f"{CACHE_ENV}={env!r} is a relative path: give an absolute folder (e.g. {Path(env).resolve()})")
        return path
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("ioi-head-claims"))


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,63}")  # "~": a derived control model (base~transform)


def name_problem(name: object) -> str | None:
    """Why `name` cannot name a model, or None. A model's name becomes a folder of the caches and of
    fixtures/ and a cell of CSV and Markdown tables, so it must be a safe slug: 1 to 64 letters, digits,
    '.', '_' or '-', starting with a letter or digit (no separator, no '..', no leading = + - @)."""
    if isinstance(name, str) and SAFE_NAME.fullmatch(name):
        return None
    return (f"{name!r} is not a safe name: use 1 to 64 letters, digits, '.', '_', '~' or '-', starting with a letter "
            "or digit (a model's name becomes a folder and a table cell)")


def current_umask() -> int:
    """The process umask (read without changing it for good). Files the harness writes through
    mkstemp (0600) are chmod-ed to 0666 & ~umask, as the Hugging Face cache does, so a cache shared
    between users works when their umask allows it."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
