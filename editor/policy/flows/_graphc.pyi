from typing import Any

from ..document import Document
from .aggregate import Aggregator
from .tables import NodeRow

class CompactGraph:
    def extend(self, document: Document) -> None: ...
    def chunks(self, document: Document, indent: int) -> Any: ...

def build(
    reading: Aggregator, document: Document
) -> tuple[CompactGraph, list[NodeRow], int, int, int, int, int] | None: ...
