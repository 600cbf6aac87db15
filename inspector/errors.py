"""The one error type the inspector shows instead of a traceback: in the status line and beside its control."""

from __future__ import annotations

from uedpo.errors import InputError as ToolkitInputError


class InputError(ToolkitInputError):
    """Bad user input (image, text, samples file): a one-line message naming the item and the fix.

    ``field`` names the control that caused it (``image``, ``sample``, ``object``, ``preferred``,
    ``dispreferred``, ``noise-step``, ``export``, ...); the page shows the message next to that control. ``None``
    leaves the choice to the handler (the control that triggered it).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
