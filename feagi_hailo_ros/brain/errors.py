"""The one error type of the brain layer: what was wrong, where, and what to do."""

from typing import Optional


class GenomeError(ValueError):
    """A genome that cannot be loaded or built; the message names file, area, gene and reason."""

    def __init__(self, reason: str, source: Optional[str] = None, area: Optional[str] = None,
                 gene: Optional[str] = None):
        self.reason = reason
        self.source = source
        self.area = area
        self.gene = gene
        where = [f'genome {source}' if source else 'genome']
        if area is not None:
            where.append(f'area {area!r}')
        if gene is not None:
            where.append(f'gene {gene!r}')
        super().__init__(': '.join(where) + ': ' + reason)
