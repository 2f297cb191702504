"""ZeroGPU: on a Hugging Face Space with the ``spaces`` package, GPU work runs under ``@spaces.GPU``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from travelbot.config import get_settings

F = TypeVar("F", bound=Callable[..., Any])


def gpu(function: F) -> F:
    """``@spaces.GPU`` on ZeroGPU Spaces (the ``spaces`` package is there); the function itself elsewhere."""
    settings = get_settings()
    if not settings.space_id:
        return function
    try:
        import spaces
    except ImportError:
        return function
    decorator = getattr(spaces, "GPU", None)
    return decorator(function) if callable(decorator) else function
