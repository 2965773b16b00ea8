"""``keras.applications`` ImageNet weight files: found in the Keras cache, downloaded only when allowed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras

from dogbreeds.models.backbones.errors import MissingWeightsError

ALLOW_DOWNLOAD_ENV = "DOGBREEDS_ALLOW_DOWNLOAD"


@dataclass(frozen=True)
class KerasWeightsFile:
    """A ``keras.applications`` ImageNet weight file pair (with / without the classifier)."""

    base_url: str
    top_file: str
    notop_file: str
    top_md5: str
    notop_md5: str

    def file_name(self, include_top: bool) -> str:
        return self.top_file if include_top else self.notop_file

    def url(self, include_top: bool) -> str:
        return self.base_url + self.file_name(include_top)

    def md5(self, include_top: bool) -> str:
        return self.top_md5 if include_top else self.notop_md5


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded files: ``$KERAS_HOME``, else ``~/.keras`` (read at call time)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def _download_allowed(allow_download: bool | None) -> bool:
    if allow_download is not None:
        return allow_download
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes"}


def resolve_keras_weights(weights: KerasWeightsFile, include_top: bool, allow_download: bool | None = None) -> Path:
    """The local path of a Keras weight file: from the cache, else downloaded if allowed.

    Raises :class:`MissingWeightsError` naming the file, its URL and where to put it.
    """
    file_name = weights.file_name(include_top)
    cache = keras_cache_dir() / "models"
    cached = cache / file_name
    if cached.is_file():
        return cached
    how_to_fix = (
        f"Download {weights.url(include_top)} and save it as {cached}, or allow downloading "
        f"(allow_download=True or {ALLOW_DOWNLOAD_ENV}=1) on a machine with internet access."
    )
    if not _download_allowed(allow_download):
        raise MissingWeightsError(f"ImageNet weight file '{file_name}' is not in the Keras cache {cache}. {how_to_fix}")
    try:
        cache.mkdir(parents=True, exist_ok=True)  # else get_file silently falls back to /tmp/.keras
        path = keras.utils.get_file(
            file_name,
            weights.url(include_top),
            cache_subdir="models",
            cache_dir=str(keras_cache_dir()),
            file_hash=weights.md5(include_top),
        )
    except Exception as error:  # get_file raises bare Exception / ValueError on network and hash failures
        raise MissingWeightsError(f"Could not download '{file_name}' ({error}). {how_to_fix}") from error
    return Path(path)
