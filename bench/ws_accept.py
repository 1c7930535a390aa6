"""What accepting a WebSocket costs the server under the gateway's uvicorn configuration
(``serve.uvicorn_config``: gateway/lane.py and gateway/http_upgrade.py), without the lane, and
without either (uvicorn's own httptools protocol, every socket through Starlette), all three
serving the same echo endpoint as the first route of a Starlette app.

    python -m bench.ws_accept --rounds 3 --connections 2000

The three servers run side by side, each in its own process with the gateway's heap settings
(``serve.settle_heap``). Each round, in rotated order: open ``--connections`` WebSockets, 200
at a time, each sending one frame and reading its echo, hold them all, close them all.
Printed per connection: the server's CPU (its own ``process_time``, read over HTTP before and
after) and the cyclic collector's collections and the objects it freed meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODES = ("gateway", "no-lane", "stock")


def _serve(mode: str, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    from chat_server import serve
    from chat_server.config import Settings

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(text)

    async def cpu(request: Request) -> JSONResponse:
        stats = gc.get_stats()
        return JSONResponse({"cpu": time.process_time(), "collections": sum(s["collections"] for s in stats),
                             "collected": sum(s["collected"] for s in stats)})

    app = Starlette(routes=[WebSocketRoute("/ws", echo), Route("/cpu", cpu)])
    config = serve.uvicorn_config(Settings(host="127.0.0.1", port=port, log_level="warning"), app)
    if mode in ("no-lane", "stock"):
        config.app = app
    if mode == "stock":
        config.http = "httptools"
    config.lifespan = "off"
    server = uvicorn.Server(config)
    serve.settle_heap()
    server.run()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _read(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/cpu", timeout=10) as r:
        answer: dict[str, Any] = json.load(r)
        return answer


async def _round(port: int, n: int) -> None:
    import websockets

    gate = asyncio.Semaphore(200)

    async def one(i: int) -> Any:
        async with gate:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None, open_timeout=60)
            await ws.send(f"hello {i}")
            await ws.recv()
            return ws

    clients = await asyncio.gather(*(one(i) for i in range(n)))
    await asyncio.gather(*(ws.close() for ws in clients))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.port)
        return
    ports = {mode: _free_port() for mode in MODES}
    procs = [subprocess.Popen([sys.executable, "-m", "bench.ws_accept", "--serve", mode, "--port", str(port)],
                              cwd=ROOT) for mode, port in ports.items()]
    try:
        for port in ports.values():
            for _ in range(200):
                try:
                    _read(port)
                    break
                except OSError:
                    time.sleep(0.05)
        for port in ports.values():
            asyncio.run(_round(port, 100))  # warm-up: imports, first allocations
        for r in range(args.rounds):
            for mode in MODES[r % 3:] + MODES[:r % 3]:
                before = _read(ports[mode])
                asyncio.run(_round(ports[mode], args.connections))
                time.sleep(0.5)  # the closes' last callbacks
                after = _read(ports[mode])
                n = args.connections
                print(f"round {r + 1} {mode:8}: server CPU {1e6 * (after['cpu'] - before['cpu']) / n:6.1f} µs/connection, "
                      f"collections {after['collections'] - before['collections']:3d}, "
                      f"freed by the collector {(after['collected'] - before['collected']) / n:5.1f} objects/connection",
                      flush=True)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
