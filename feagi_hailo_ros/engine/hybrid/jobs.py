"""A device job: one fired set's inference, then the worker thread's share of the updates."""

from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
import enum
import threading
from typing import Dict, List, Optional


class JobState(enum.Enum):
    """Who applies the worker's share of a job's neuron updates."""

    RUNNING = 'running'          # nobody yet: the worker may still claim it
    WORKER = 'worker'            # the worker thread is applying it
    MAIN = 'main'                # the main thread applies it (it finished its share first)
    DECLINED = 'declined'        # the worker stopped waiting for the burst; main applies it
    ABANDONED = 'abandoned'      # timed out or dropped: nobody ever applies it


class DeviceJob:
    """One device job: the inference of a fired set, then the worker's share of the updates.

    `ready` is set when `grids` (or `error`) are there. The worker's share waits for
    `begun` (set once the burst this job belongs to has begun) and runs only if the worker
    `claim`s it (RUNNING -> WORKER under `lock`). The main thread claims it instead (MAIN)
    when it finishes its own share first or the worker stopped waiting for the burst
    (DECLINED: bursts far apart, nobody left blocked); it moves it to ABANDONED on a
    timeout or when the job is dropped, so a late job never writes.
    """

    def __init__(self) -> None:
        """A job not yet submitted: RUNNING, nothing ready."""
        self.lock = threading.Lock()
        self.state = JobState.RUNNING
        self.ready = threading.Event()
        self.begun = threading.Event()
        self.grids: Optional[list] = None
        self.error: Optional[BaseException] = None
        self.bad: List[BaseException] = []     # bad values found as targets were applied
        self.timing: Dict[str, float] = {}
        self.future: Optional[Future] = None

    def claim(self, who: JobState) -> bool:
        """Move RUNNING to `who` (under the lock); False when someone else has it."""
        with self.lock:
            if self.state is not JobState.RUNNING:
                return False
            self.state = who
            return True

    def abandon(self) -> bool:
        """Stop the worker's share unless it has started; return True if it never will."""
        self.claim(JobState.ABANDONED)
        self.begun.set()
        return self.state is not JobState.WORKER

    def finish(self, timeout_s: float) -> None:
        """Wait for the worker's share of the updates (host CPU work); re-raise its error."""
        try:
            self.future.result(timeout=max(10.0, 10 * timeout_s))
        except FutureTimeout:
            raise RuntimeError('a device worker did not finish its share of the neuron '
                               'updates') from None
