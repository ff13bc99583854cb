"""`jitspot serve`: the catalog in a browser. A front end like the CLI: it only calls the core.

`create_app` builds the ASGI app (tests call it directly); `server` binds the
socket and runs it on uvicorn, for `jitspot.cli.serve` and the tests alike.
"""

from jitspot.web.app import create_app
from jitspot.web.server import LOOPBACK_HOSTS

__all__ = ["LOOPBACK_HOSTS", "create_app"]
