"""The python-socketio baseline of Volley's benchmarks: the handlers of
bench/src/bin/volley_bench_server.rs, on python-socketio 5 as an ASGI app served by uvicorn
(uvloop, httptools, websockets-sansio).

    python server.py --port 3100 [--adapter memory|redis://127.0.0.1:6379] [--prefix P]

With a redis:// adapter, socketio.AsyncRedisManager (channel = the prefix).
"""

import argparse
import inspect

import socketio
import uvicorn


def build(adapter: str, prefix: str) -> socketio.AsyncServer:
    if adapter == "memory":
        manager = None
    elif adapter.startswith("redis://"):
        manager = socketio.AsyncRedisManager(adapter, channel=prefix)
    else:
        raise SystemExit(f"unknown adapter {adapter}")
    sio = socketio.AsyncServer(
        async_mode="asgi", client_manager=manager, logger=False, engineio_logger=False
    )

    @sio.event
    async def echo(sid, *args):
        return args

    @sio.event
    async def join(sid, room):
        entered = sio.enter_room(sid, room)
        if inspect.isawaitable(entered):
            await entered
        return True

    @sio.event
    async def fanout(sid, f):
        await sio.emit("msg", (f["seq"], f["payload"]), room=f["room"])
        return True

    @sio.event
    async def burst(sid, b):
        # one emit after the other: with AsyncRedisManager this is several times faster than
        # gathering emits (measured: 8,100 against 1,300 broadcasts/s with 64 gathered)
        room, start, count, payload = b["room"], b["from"], b["count"], b["payload"]
        for i in range(count):
            await sio.emit("msg", (start + i, payload), room=room)
        return count

    return sio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=3100)
    parser.add_argument("--adapter", default="memory")
    parser.add_argument("--prefix", default="volley-bench")
    opts = parser.parse_args()
    sio = build(opts.adapter, opts.prefix)
    app = socketio.ASGIApp(sio)
    print(f"python-socketio listening on 127.0.0.1:{opts.port}", flush=True)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=opts.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_ping_interval=None,
        ws_ping_timeout=None,
    )


if __name__ == "__main__":
    main()
