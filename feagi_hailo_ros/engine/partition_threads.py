"""Worker threads that run the partitions of one burst at once (the kernel releases the GIL)."""

import threading
from typing import Callable, List, Optional


class PartitionThreads:
    """Partitions 1 .. parts - 1 in a daemon thread each, partition 0 in the caller's thread.

    The threads wait on a barrier between bursts; `run` releases them for one burst and
    returns when every partition is done.
    """

    def __init__(self, parts: int, run_partition: Callable[[int], None]):
        self._run_partition = run_partition
        self._start = threading.Barrier(parts)
        self._done = threading.Barrier(parts)
        self._stop = False
        self._errors: List[BaseException] = []
        self._threads: List[threading.Thread] = []
        for p in range(1, parts):
            thread = threading.Thread(target=self._worker, args=(p,), daemon=True,
                                      name=f'burst-partition-{p}')
            thread.start()
            self._threads.append(thread)

    def _worker(self, p: int) -> None:
        while True:
            self._start.wait()
            if self._stop:
                return
            try:
                self._run_partition(p)
            except BaseException as exc:  # reported by the main thread
                self._errors.append(exc)
            self._done.wait()

    def run(self) -> Optional[BaseException]:
        """Run every partition once; return a worker's error (partition 0's is raised)."""
        self._start.wait()
        try:
            self._run_partition(0)
        finally:
            self._done.wait()
        return self._errors.pop() if self._errors else None

    def close(self) -> None:
        """Stop the threads and wait for them."""
        self._stop = True
        self._start.wait()
        for thread in self._threads:
            thread.join()
