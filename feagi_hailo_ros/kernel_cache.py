"""Which of the package's numba kernels were loaded from the on-disk cache and which compiled.

Numba compiles a kernel on its first call with new argument types, or loads it from its
cache (`NUMBA_CACHE_DIR`, else `__pycache__` beside the module); a cold cache costs seconds.
Start-up reports say which happened, read from the kernels' own counters.
"""

import sys
from typing import Dict

PACKAGE = 'feagi_hailo_ros'


def kernel_cache_counts() -> Dict[str, int]:
    """Count kernel signatures of the loaded package modules: {'loaded', 'compiled'}."""
    loaded = compiled = 0
    numba = sys.modules.get('numba')
    if numba is None:
        return {'loaded': 0, 'compiled': 0}
    from numba.core.dispatcher import Dispatcher
    seen = set()
    for name, module in list(sys.modules.items()):
        if module is None or not (name == PACKAGE or name.startswith(PACKAGE + '.')):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and id(value) not in seen:
                seen.add(id(value))
                stats = value.stats
                loaded += sum(stats.cache_hits.values())
                compiled += sum(stats.cache_misses.values())
    return {'loaded': loaded, 'compiled': compiled}


def cache_state(counts: Dict[str, int]) -> str:
    """'warm' (all loaded), 'cold' (all compiled), 'partly warm' or 'unused'."""
    if counts['compiled'] and counts['loaded']:
        return 'partly warm'
    if counts['compiled']:
        return 'cold'
    return 'warm' if counts['loaded'] else 'unused'
