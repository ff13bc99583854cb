"""`jitspot serve`: the catalog in a browser. A front end like the CLI: it only calls the core.

`create_app` builds the ASGI app (tests call it directly); `jitspot.cli.serve`
runs it on uvicorn.
"""

from jitspot.web.app import LOOPBACK_HOSTS, create_app

__all__ = ["LOOPBACK_HOSTS", "create_app"]
