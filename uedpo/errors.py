"""The one exception type for bad input: a file, an option or data the user gave, named in one line with its fix.

Every CLI prints an :class:`InputError` as that one line and exits 2, writing nothing; any other exception that
escapes is a bug in the toolkit and keeps its traceback. The toolkit's own error types (``ConfigError``,
``DataError``, ``UsageError``, ``ModelLoadError``, ...) subclass it; it subclasses ``ValueError`` so callers
that caught ``ValueError`` keep working. A leaf module: the standard library only.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input; ``str(err)`` is one line naming the file or option, the item and the fix."""
