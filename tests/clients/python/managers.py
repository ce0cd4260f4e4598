"""python-socketio's pub/sub managers, built as an application builds them, for the cluster
tests of tests/tests/cluster_python.rs.

`make(kind, url, channel, write_only)` returns the manager of `kind`:

| kind | manager | url |
| --- | --- | --- |
| redis | RedisManager | redis://127.0.0.1:6379 |
| async-redis | AsyncRedisManager | redis://127.0.0.1:6379 |
| kombu | KombuManager | amqp://guest:guest@127.0.0.1:5672// |
| aio-pika | AsyncAioPikaManager | amqp://guest:guest@127.0.0.1:5672/ |
| kafka | KafkaManager | kafka://127.0.0.1:9092 |
"""

import json

import socketio

MANAGERS = {
    'redis': socketio.RedisManager,
    'async-redis': socketio.AsyncRedisManager,
    'kombu': socketio.KombuManager,
    'aio-pika': socketio.AsyncAioPikaManager,
    'kafka': socketio.KafkaManager,
}

ASYNC = {'async-redis', 'aio-pika'}


class BytesJson:
    """The `json` module KafkaManager is given: python-socketio hands kafka-python the text of
    `json.dumps`, and kafka-python 3 takes only bytes ("Unsupported type for serialized value"),
    so an application passes a module whose `dumps` returns UTF-8 bytes."""

    @staticmethod
    def dumps(*args, **kwargs):
        return json.dumps(*args, **kwargs).encode()

    loads = staticmethod(json.loads)


def make(kind, url, channel, write_only):
    options = {'json': BytesJson} if kind == 'kafka' else {}
    return MANAGERS[kind](url, channel=channel, write_only=write_only, **options)
