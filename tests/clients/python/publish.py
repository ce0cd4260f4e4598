"""A job worker: python-socketio's write-only manager of one kind publishing into a cluster, as
the test tells it (tests/tests/cluster_python.rs).

    publish.py KIND URL CHANNEL

Reads one JSON command a line from stdin and answers `{"ok": true}` (or `{"error": "..."}`) once
the manager has published it:

- `{"op": "emit", "event": E, "data": [...], "namespace": N, "room": R, "skip_sid": S}`: the
  manager's `emit` (several arguments when `data` has several items); a string
  `"b64:<base64>"` anywhere in `data` stands for those bytes;
- `{"op": "enter_room" | "leave_room", "sid": S, "room": R, "namespace": N}`,
  `{"op": "close_room", "room": R, "namespace": N}`, `{"op": "disconnect", "sid": S,
  "namespace": N}`: the manager's methods of those names;
- `{"op": "raw", "hex": H}`: those bytes published on the manager's channel as they are,
  through the manager's own client (what a broken or foreign publisher would send).
"""

import asyncio
import base64
import json
import sys

from managers import ASYNC, make


def decode(value):
    if isinstance(value, str) and value.startswith('b64:'):
        return base64.b64decode(value[4:])
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    return value


def calls(mgr, cmd):
    """The manager call for `cmd`: (method, args, kwargs)."""
    op = cmd['op']
    ns = cmd.get('namespace', '/')
    if op == 'emit':
        data = decode(cmd['data'])
        data = data[0] if len(data) == 1 else tuple(data)
        return mgr.emit, (cmd['event'], data), {
            'namespace': ns, 'room': cmd.get('room'), 'skip_sid': cmd.get('skip_sid')}
    if op == 'enter_room':
        return mgr.enter_room, (cmd['sid'], ns, cmd['room']), {}
    if op == 'leave_room':
        return mgr.leave_room, (cmd['sid'], ns, cmd['room']), {}
    if op == 'close_room':
        return mgr.close_room, (cmd['room'],), {'namespace': ns}
    if op == 'disconnect':
        if asyncio.iscoroutinefunction(mgr.can_disconnect):
            # the async managers publish it from `can_disconnect` alone
            return mgr.can_disconnect, (cmd['sid'], ns), {}
        # `disconnect` of a write-only manager first disconnects locally, through the server it
        # does not have; the message it then publishes goes through the manager's own `_publish`
        message = {'method': 'disconnect', 'sid': cmd['sid'], 'namespace': ns,
                   'host_id': mgr.host_id}
        return mgr._publish, (message,), {}
    raise ValueError('unknown op ' + op)


def raw(kind, mgr, payload):
    """Publishes bytes as they are, through the manager's own connection."""
    if kind == 'redis':
        mgr.redis.publish(mgr.channel, payload)
    elif kind == 'kafka':
        mgr.producer.send(mgr.channel, value=payload)
        mgr.producer.flush()
    elif kind == 'kombu':
        publish = mgr._producer_publish(mgr.publisher_connection)
        publish(payload, content_type='application/octet-stream',
                content_encoding='binary')
    else:
        raise ValueError('raw is not offered for ' + kind)


async def araw(kind, mgr, payload):
    if kind == 'async-redis':
        await mgr.redis.publish(mgr.channel, payload)
    elif kind == 'aio-pika':
        import aio_pika
        if mgr.publisher_exchange is None:
            mgr.publisher_connection = await mgr._connection()
            mgr.publisher_channel = await mgr._channel(mgr.publisher_connection)
            mgr.publisher_exchange = await mgr._exchange(mgr.publisher_channel)
        await mgr.publisher_exchange.publish(aio_pika.Message(body=payload), routing_key='*')
    else:
        raise ValueError('raw is not offered for ' + kind)


async def main():
    kind, url, channel = sys.argv[1:4]
    mgr = make(kind, url, channel, write_only=True)
    if kind == 'kombu':
        mgr.publisher_connection = mgr._connection()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if cmd['op'] == 'raw':
                payload = bytes.fromhex(cmd['hex'])
                if kind in ASYNC:
                    await araw(kind, mgr, payload)
                else:
                    raw(kind, mgr, payload)
            else:
                method, args, kwargs = calls(mgr, cmd)
                result = method(*args, **kwargs)
                if asyncio.iscoroutine(result):
                    await result
            print(json.dumps({'ok': True}), flush=True)
        except Exception as e:  # reported to the test, which fails with it
            print(json.dumps({'error': repr(e)}), flush=True)


asyncio.run(main())
