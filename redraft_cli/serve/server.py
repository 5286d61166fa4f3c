"""The uvicorn server of `redraft serve`."""

from __future__ import annotations

import uvicorn

from .worker import EngineWorker


class StoppingServer(uvicorn.Server):
    """Cancels the engine's work on the first tick (0.1 s) after a signal asked the server to
    stop, so that an answer in progress ends its response at once instead of holding the
    shutdown until the answer is complete."""

    def __init__(self, config: uvicorn.Config, worker: EngineWorker):
        super().__init__(config)
        self.worker = worker

    async def on_tick(self, counter: int) -> bool:
        should_exit = await super().on_tick(counter)
        if should_exit:
            self.worker.cancel_all()
        return should_exit
