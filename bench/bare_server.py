"""The baseline: a bare aiohttp POST handler that reads the body and answers "success"."""

from __future__ import annotations

import argparse

from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    """Read the whole body, answer a constant."""
    await request.read()
    return web.Response(text="success")


def main() -> None:
    """Serve on 127.0.0.1:<port> until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    app.router.add_get("/readyz", ready)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


async def ready(_request: web.Request) -> web.Response:
    """Readiness for the harness."""
    return web.Response(text="ok")


if __name__ == "__main__":
    main()
