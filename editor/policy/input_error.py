"""InputError, the one-line error of input that cannot be read, apart from the YAML loader (yamlio.py).

Commands that never read YAML (`fenceline flows`) import it from here, so they do not pay for importing PyYAML
and building its emitter and resolver; yamlio.py re-exports both names.
"""

from __future__ import annotations

MIB = 1024 * 1024


class InputError(ValueError):
    """Input that cannot be read. `str()` is a one-line message naming the source and, when known, the line."""

    def __init__(self, message: str, source: str = "<input>", line: int | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.message}"
