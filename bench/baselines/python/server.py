"""The python-socketio baseline of Volley's benchmarks: the handlers of
bench/src/bin/volley_bench_server.rs on python-socketio 5.

    python server.py --port 3100 [--adapter URL] [--prefix P]

The adapter URL's scheme picks the setup (the prefix is the manager's channel in each):

- `memory` (one node), `redis://…` (socketio.AsyncRedisManager) and `amqp://…`
  (socketio.AsyncAioPikaManager: a fanout exchange named after the prefix, one queue per node):
  socketio.AsyncServer as an ASGI app served by uvicorn (uvloop, httptools, websockets-sansio).
  With amqp:// the manager's listener starts before uvicorn listens, and uvicorn waits until its
  queue is bound (see `startup` in serve_async).
- `kafka://host:port`: python-socketio's only Kafka manager, socketio.KafkaManager (on
  kafka-python), is synchronous and does not work with AsyncServer, so this setup is the
  synchronous socketio.Server, in async_mode "gevent": gevent's WSGI server with gevent-websocket's
  handler, the process monkey-patched (kafka-python's I/O threads become greenlets).

Why gevent. python-socketio's synchronous modes that serve WebSocket are "threading"
(simple-websocket on a threaded WSGI server that hands over its socket: Werkzeug's, or Gunicorn's
gthread worker), "eventlet" and "gevent" (with gevent-websocket, or simple-websocket when that is
missing). Measured on this 2-core machine, two nodes with KafkaManager on tansu, a load generator in
Python (rough figures, the same for each):
- the cross-node pattern (4 bursts of 200 in flight, a member on each node): threading and gevent
  the same, about 2,300 broadcasts/s, since every emit of KafkaManager is one send and one flush
  to the broker, one after the other; one burst at a time, threading 1,050-1,100/s, gevent
  910/s, eventlet 820/s;
- 200-300 clients sending `echo`: gevent 13,000-14,000/s, eventlet 9,800/s, threading
  1,600-2,100/s (threading starts an OS thread for every event, and holds two per connection:
  the WSGI server's and simple-websocket's reader);
- 2,000 clients connecting at once: gevent took them all in 1.2 s (then 8,300 echoes/s); threading
  (Werkzeug) lost half of them to 10-second handshake timeouts and ran 1,600 threads;
- gevent-websocket against simple-websocket under gevent, 1,000 clients: 6,300 against 5,000
  echoes/s, 108 against 217 MB resident.
Eventlet is also deprecated (it prints so at import). Gunicorn's gthread worker was not tried: a
fixed pool with one thread held per WebSocket, otherwise the threading mode's costs.

KafkaManager as shipped needs three things done around it here (class KafkaManager below):
- it hands kafka-python a str (json.dumps) where KafkaProducer wants bytes, so that every publish
  raises TypeError: the payload is encoded to UTF-8 first, nothing else of its publish changes (one
  send, then flush, per emit);
- its consumer subscribes to the topic (the channel) but creates nothing, and a broker without
  topic auto-creation (tansu) leaves it polling metadata forever: the topic is created with
  kafka-python's admin client at start when missing (1 partition, replication 1);
- its consumer has no group and starts at the log's end once it has its partition assigned, which
  happens at its first poll, itself at the server's first connection: broadcasts published by the
  other node before that are never seen (41 and 88 of check.py's burst of 100). The server
  therefore starts the manager and waits until its consumer has its partition and offset before it
  listens.
"""

import argparse
import sys


def scheme(adapter: str) -> str:
    return adapter.split("://", 1)[0] if "://" in adapter else adapter


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=3100)
    parser.add_argument("--adapter", default="memory")
    parser.add_argument("--prefix", default="volley-bench")
    opts = parser.parse_args()
    if scheme(opts.adapter) not in ("memory", "redis", "amqp", "kafka"):
        raise SystemExit(f"unknown adapter {opts.adapter}")
    return opts


# --- memory, redis://, amqp://: AsyncServer on uvicorn -------------------------------------------


def build_async(adapter: str, prefix: str):
    import inspect

    import socketio

    kind = scheme(adapter)
    if kind == "memory":
        manager = None
    elif kind == "redis":
        manager = socketio.AsyncRedisManager(adapter, channel=prefix)
    elif kind == "amqp":
        manager = aio_pika_manager_class()(adapter, channel=prefix)
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


def aio_pika_manager_class():
    import asyncio

    import socketio

    class AioPikaManager(socketio.AsyncAioPikaManager):
        """socketio.AsyncAioPikaManager that tells when its queue is bound (see `startup`)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.bound = asyncio.Event()

        async def _queue(self, channel, exchange):
            queue = await super()._queue(channel, exchange)
            self.bound.set()
            return queue

    return AioPikaManager


def serve_async(opts: argparse.Namespace) -> None:
    import asyncio

    import socketio
    import uvicorn

    sio = build_async(opts.adapter, opts.prefix)

    async def startup():
        # AsyncAioPikaManager declares and binds its node's queue only once its listener runs,
        # which python-socketio starts at the first connection: what the other node broadcast
        # before the bind is lost (the first 6 of a burst sent right after both clients joined,
        # in check.py). So the listener starts here, and uvicorn listens once the queue is bound.
        manager = sio.manager
        if isinstance(manager, socketio.AsyncAioPikaManager):
            sio.manager_initialized = True
            manager.initialize()
            try:
                await asyncio.wait_for(manager.bound.wait(), 60)
            except asyncio.TimeoutError:
                print("python-socketio: no RabbitMQ queue bound within 60 s", flush=True)
                raise

    app = socketio.ASGIApp(sio, on_startup=startup)
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


# --- kafka://: the synchronous Server ------------------------------------------------------------


def kafka_manager_class():
    import socketio
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    class KafkaManager(socketio.KafkaManager):
        """socketio.KafkaManager with the three fixes of the module's docstring."""

        def __init__(self, url: str, channel: str):
            self.early = []  # records the start-up poll fetched, handed to the listener first
            ensure_topic(url, channel)
            super().__init__(url=url, channel=channel)

        def _publish(self, data):
            self.producer.send(self.channel, value=self.json.dumps(data).encode())
            self.producer.flush()

        def _kafka_listen(self):
            early, self.early = self.early, []
            yield from early
            yield from self.consumer

        def wait_positioned(self, timeout: float = 60.0) -> None:
            import time

            deadline = time.monotonic() + timeout
            while not self.consumer.assignment():
                if time.monotonic() > deadline:
                    raise SystemExit(f"no partition of topic {self.channel} assigned")
                for records in self.consumer.poll(timeout_ms=100).values():
                    self.early.extend(records)
            for tp in self.consumer.assignment():
                self.consumer.position(tp)

    def ensure_topic(url: str, topic: str) -> None:
        servers = [url[len("kafka://") :] or "localhost:9092"]
        admin = KafkaAdminClient(bootstrap_servers=servers)
        try:
            if topic not in admin.list_topics():
                try:
                    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
                except TopicAlreadyExistsError:
                    pass  # the other node created it first
        finally:
            admin.close()

    return KafkaManager


def build_sync(adapter: str, prefix: str):
    import socketio

    manager = kafka_manager_class()(adapter, prefix)
    sio = socketio.Server(
        async_mode="gevent", client_manager=manager, logger=False, engineio_logger=False
    )

    @sio.event
    def echo(sid, *args):
        return args

    @sio.event
    def join(sid, room):
        sio.enter_room(sid, room)
        return True

    @sio.event
    def fanout(sid, f):
        sio.emit("msg", (f["seq"], f["payload"]), room=f["room"])
        return True

    @sio.event
    def burst(sid, b):
        room, start, count, payload = b["room"], b["from"], b["count"], b["payload"]
        for i in range(count):
            sio.emit("msg", (start + i, payload), room=room)
        return count

    # the manager's listener starts now rather than at the first connection (see the docstring)
    sio.manager_initialized = True
    manager.wait_positioned()
    manager.initialize()
    return sio


def serve_sync(opts: argparse.Namespace) -> None:
    import socketio
    from gevent import pywsgi
    from geventwebsocket.handler import WebSocketHandler

    sio = build_sync(opts.adapter, opts.prefix)
    server = pywsgi.WSGIServer(
        ("127.0.0.1", opts.port),
        socketio.WSGIApp(sio),
        handler_class=WebSocketHandler,
        log=None,
        backlog=2048,  # uvicorn's
    )
    print(f"python-socketio (gevent) listening on 127.0.0.1:{opts.port}", flush=True)
    server.serve_forever()


def main() -> None:
    opts = options()
    if scheme(opts.adapter) == "kafka":
        # before anything imports socket, ssl, threading or selectors: kafka-python's I/O
        # threads become greenlets on the one hub
        from gevent import monkey

        monkey.patch_all()
        serve_sync(opts)
    else:
        serve_async(opts)


if __name__ == "__main__":
    sys.exit(main())
