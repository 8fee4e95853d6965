"""Where evaluations run: a `dask.distributed` cluster (a local cluster of worker processes by
default, or the scheduler at an address), or Dask's synchronous scheduler in this process (for
debugging and for checking that both give the same results). Nothing here schedules: tasks go
to Dask and come back as Dask finishes them.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator


class Engine:
    """Submit plain functions, collect results as they finish. A context manager: the local
    cluster (if any) starts with the first tasks and lives as long as the `with` block."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None,
                 synchronous: bool = False):
        self.scheduler, self.workers, self.synchronous = scheduler, workers, synchronous
        self.client = self.cluster = None

    def __enter__(self) -> Engine:
        return self

    def _connect(self) -> None:
        """Connect to the scheduler, or start the local cluster: on the first tasks, so that a
        run whose results are all in the store starts no process."""
        from dask.distributed import Client, LocalCluster

        from vta.fuzz.campaign import connect
        if self.scheduler:
            self.client = connect(self.scheduler)
        else:
            self.cluster = LocalCluster(n_workers=self.workers or os.cpu_count() or 1,
                                        threads_per_worker=1, processes=True,
                                        dashboard_address=":0", silence_logs=logging.ERROR)
            self.client = Client(self.cluster)

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def run(self, tasks: dict[str, tuple[Callable, tuple]]) -> Iterator[tuple[str, object]]:
        """Run every task ({name: (function, arguments)}); yield (name, result) as each
        finishes. A task's exception is raised here."""
        if not tasks:
            return
        if self.client is None and not self.synchronous:
            self._connect()
        if self.client is None:
            import dask
            for name, (function, arguments) in tasks.items():
                yield name, dask.delayed(function, pure=True)(*arguments).compute(
                    scheduler="synchronous")
            return
        from dask.distributed import as_completed
        futures = {self.client.submit(function, *arguments, key=f"{name}-{uuid.uuid4().hex[:8]}",
                                      pure=False): name
                   for name, (function, arguments) in tasks.items()}
        try:
            for future, result in as_completed(futures, with_results=True):
                yield futures[future], result
        finally:
            self.client.cancel(list(futures))
