"""The one error type the inspector shows in its status line instead of a traceback."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input (image, text, samples file): a one-line message naming the item and the fix."""
