"""A python-socketio node of a test cluster (tests/tests/cluster_python.rs): an `AsyncServer` on
uvicorn with the pub/sub manager of one kind, sharing a cluster with Volley nodes.

    peer.py KIND URL CHANNEL NAME

KIND is async-redis or aio-pika (see managers.py). Prints `listening http://127.0.0.1:PORT` once
it serves (its manager then listens to the channel) and runs until stdin closes. Its handlers,
in every namespace, as the Volley test node's (tests/src/cluster_app.rs):

- `node` acks NAME; `join` (room) enters the room;
- `broadcast` (event, rooms, skipped sids, [args]) emits to those rooms (all when empty) but the
  skipped sockets, across the cluster;
- `remote-join` / `remote-leave` (sid, room), `remote-disconnect` (sid), `close-room` (room):
  python's enter_room, leave_room, disconnect and close_room, for sockets that may be on
  another node;
- `call` (sid) asks that socket `question` ("?") and acks its answer (python's `call`, which
  waits for the ack through the manager's callbacks when the socket is elsewhere).
"""

import asyncio
import socket
import sys

import socketio
import uvicorn

from managers import make

kind, url, channel, name = sys.argv[1:5]
manager = make(kind, url, channel, write_only=False)
sio = socketio.AsyncServer(async_mode='asgi', client_manager=manager, cors_allowed_origins='*')
app = socketio.ASGIApp(sio)


def handlers(ns):
    @sio.on('node', namespace=ns)
    async def node(sid):
        return name

    @sio.on('join', namespace=ns)
    async def join(sid, room):
        await sio.enter_room(sid, room, namespace=ns)

    @sio.on('broadcast', namespace=ns)
    async def broadcast(sid, event, rooms, skip, args):
        data = args[0] if len(args) == 1 else tuple(args)
        await sio.emit(event, data, to=rooms or None, skip_sid=skip or None, namespace=ns)

    @sio.on('remote-join', namespace=ns)
    async def remote_join(sid, target, room):
        await sio.enter_room(target, room, namespace=ns)

    @sio.on('remote-leave', namespace=ns)
    async def remote_leave(sid, target, room):
        await sio.leave_room(target, room, namespace=ns)

    @sio.on('remote-disconnect', namespace=ns)
    async def remote_disconnect(sid, target):
        await sio.disconnect(target, namespace=ns)

    @sio.on('close-room', namespace=ns)
    async def close_room(sid, room):
        await sio.close_room(room, namespace=ns)

    @sio.on('call', namespace=ns)
    async def call(sid, target):
        return await sio.call('question', '?', to=target, namespace=ns, timeout=5)

    @sio.on('connect', namespace=ns)
    async def connect(sid, environ, auth=None):
        return True


for ns in ('/', '/other'):
    handlers(ns)


async def main():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level='error', lifespan='off')
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    # the manager listens from the server's first use: start it now, as a first client would
    sio.manager_initialized = True
    sio.manager.initialize()
    while not server.started:
        await asyncio.sleep(0.02)
    print(f'listening http://127.0.0.1:{port}', flush=True)
    stdin = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.read()
    server.should_exit = True
    await serving


asyncio.run(main())
