"""The node's HTTP API served by uvicorn in a thread of its own (the loop thread does the chain
work), and the status file through which tools find where a running node listens."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from oracle.config import ApiSettings
from oracle.errors import OracleError

STATUS_FILE = "api.json"


class ApiServer:
    def __init__(self, app: Any, settings: ApiSettings, data_dir: Path) -> None:
        import uvicorn

        self._settings = settings
        self._status_file = data_dir / STATUS_FILE
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_level="warning",
                log_config=None,  # uvicorn's records go through the node's handler (text or JSON)
                access_log=False,
                lifespan="off",
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)

    def start(self) -> str:
        """Listen (waiting up to 10 s for the socket) and return the URL, also written to the
        data folder's status file."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.01)
        if not self._server.started:
            raise OracleError(
                f"the HTTP API could not listen on {self._settings.host}:{self._settings.port} "
                "(port in use?)"
            )
        port = self._server.servers[0].sockets[0].getsockname()[1]
        url = f"http://{self._settings.host}:{port}"
        self._status_file.write_text(json.dumps({"url": url, "pid": os.getpid()}))
        return url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


def api_url_of(data_dir: Path) -> str | None:
    """The URL a running node's API listens on (written at start), for tools and tests."""
    try:
        return str(json.loads((data_dir / STATUS_FILE).read_text())["url"])
    except (OSError, ValueError, KeyError):
        return None
