"""Drives the python-socketio client against a server for the Volley interop tests.

usage: python client.py <server-url> <scenario> [polling|websocket|upgrade]

Prints one JSON object per line ({"ev": "...", ...}) for what happened; exits 0 when the
scenario ran to its end, or prints {"ev": "error", ...} and exits 1. It checks nothing itself
beyond "the expected thing arrived in time": the Rust tests (tests/src/interop_cases.rs) assert
on the values. Binary data is printed as {"$binary": "<hex>"}.
"""

import json
import os
import queue
import sys
import time
import traceback

import engineio
import socketio

STEP = 5.0

URL = sys.argv[1]
SCENARIO = sys.argv[2]
TRANSPORT = sys.argv[3] if len(sys.argv) > 3 else "upgrade"


def out(ev, **fields):
    sys.stdout.write(json.dumps({"ev": ev, **fields}) + "\n")
    sys.stdout.flush()


def to_json(value):
    if isinstance(value, (bytes, bytearray)):
        return {"$binary": bytes(value).hex()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def transports():
    if TRANSPORT == "polling":
        return ["polling"]
    if TRANSPORT == "websocket":
        return ["websocket"]
    if TRANSPORT == "upgrade":
        return ["polling", "websocket"]
    raise ValueError("unknown transport " + TRANSPORT)


class Inbox:
    """Records the given events of one namespace from the moment it is created."""

    def __init__(self, sio, events, namespace="/"):
        self.queues = {e: queue.Queue() for e in events}
        for event in events:
            sio.on(event, self._recorder(event), namespace=namespace)

    def _recorder(self, event):
        def record(*args):
            self.queues[event].put(list(args))

        return record

    def next(self, event, timeout=STEP):
        try:
            return self.queues[event].get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f'timed out after {timeout} s waiting for "{event}"') from None


def open_client(namespace, events, auth=None):
    sio = socketio.Client(reconnection=False)
    inbox = Inbox(sio, events, namespace)
    sio.connect(
        URL,
        auth=auth,
        transports=transports(),
        namespaces=[namespace],
        wait_timeout=STEP,
    )
    out("connected", nsp=namespace, id=sio.get_sid(namespace), transport=sio.transport())
    return sio, inbox


def emit_with_ack(sio, event, args, namespace="/"):
    """Emits `args` (a tuple: one argument each) with an ack callback; returns the ack args."""
    acks = queue.Queue()
    sio.emit(event, args, namespace=namespace, callback=lambda *a: acks.put(list(a)))
    try:
        return acks.get(timeout=STEP)
    except queue.Empty:
        raise TimeoutError(f'no ack for "{event}" within {STEP} s') from None


def basic():
    sio, inbox = open_client("/", ["auth", "echo-back"])
    out("auth", data=to_json(inbox.next("auth")[0]))
    sio.emit("echo", ("hello", 42, {"nested": [True, None, "x"]}))
    out("echo-back", args=to_json(inbox.next("echo-back")))
    out("transport", name=sio.transport())
    sio.disconnect()


def binary():
    sio, inbox = open_client("/", ["echo-back"])
    sio.emit("echo", (bytes(range(256)), {"bin": bytes([1, 2, 3]), "n": 1}, "text"))
    out("echo-back", args=to_json(inbox.next("echo-back")))
    ack = emit_with_ack(sio, "echo-ack", (bytes([4, 5, 6]), "x"))
    out("ack", args=to_json(ack))
    out("transport", name=sio.transport())
    sio.disconnect()


def acks():
    sio, inbox = open_client("/", ["call-result", "call-error"])

    def on_server_call(data):
        out("server-call", data=to_json(data))
        return ("client-ack", data, bytes([9, 8, 7]))

    sio.on("server-call", on_server_call)
    ack = emit_with_ack(sio, "echo-ack", (1, "two", {"three": [3]}))
    out("ack", args=to_json(ack))
    sio.emit("please-call", {"q": "question"})
    out("call-result", args=to_json(inbox.next("call-result")))
    out("transport", name=sio.transport())
    sio.disconnect()


def custom_namespace():
    sio, inbox = open_client("/custom", ["auth", "echo-back"])
    out("auth", data=to_json(inbox.next("auth")[0]))
    sio.emit("echo", ("to custom", {"k": 1}), namespace="/custom")
    out("echo-back", args=to_json(inbox.next("echo-back")))
    out("transport", name=sio.transport())
    sio.disconnect()


def auth():
    sio, inbox = open_client("/", ["auth"], auth={"token": "abc", "n": 1})
    out("auth", data=to_json(inbox.next("auth")[0]))
    sio.disconnect()


def expect_connect_error(namespace):
    sio = socketio.Client(reconnection=False)
    inbox = Inbox(sio, ["connect_error"], namespace)
    try:
        sio.connect(URL, transports=transports(), namespaces=[namespace], wait_timeout=STEP)
        out("connected-anyway", value=True)
    except socketio.exceptions.ConnectionError as e:
        out("connect-raised", message=str(e))
    [data] = inbox.next("connect_error")
    if isinstance(data, dict):
        out("connect_error", message=data.get("message"), data=to_json(data.get("data")))
    else:
        out("connect_error", message=data, data=None)
    sio.disconnect()


def unknown_namespace():
    expect_connect_error("/nope")


def refused():
    expect_connect_error("/refuse")


def server_disconnect():
    sio, inbox = open_client("/", ["disconnect"])
    sio.emit("please-disconnect")
    out("disconnect", reason=inbox.next("disconnect")[0])


def heartbeat_timeout():
    """The client stops answering pings (its pongs are dropped) until the server gives up on it;
    then another client asks the server why the first one left."""
    sio, inbox = open_client("/", ["disconnect"])
    sid = sio.get_sid("/")
    send_packet = sio.eio._send_packet

    def drop_pongs(pkt):
        if pkt.packet_type != engineio.packet.PONG:
            send_packet(pkt)

    sio.eio._send_packet = drop_pongs
    start = time.monotonic()
    out("disconnect", reason=inbox.next("disconnect", timeout=10)[0])
    out("noticed", ms=int((time.monotonic() - start) * 1000))
    observer, _ = open_client("/", [])
    reason = observer.call("disconnect-reason", sid, timeout=STEP)
    out("server-reason", id=sid, reason=reason)
    observer.disconnect()


SCENARIOS = {
    "basic": basic,
    "binary": binary,
    "acks": acks,
    "custom-namespace": custom_namespace,
    "auth": auth,
    "unknown-namespace": unknown_namespace,
    "refused": refused,
    "server-disconnect": server_disconnect,
    "heartbeat-timeout": heartbeat_timeout,
}


def main():
    try:
        run = SCENARIOS.get(SCENARIO)
        if run is None:
            raise ValueError("unknown scenario " + SCENARIO)
        run()
        out("done")
        code = 0
    except Exception:  # noqa: BLE001 - report anything as a scenario failure
        out("error", message=traceback.format_exc())
        code = 1
    sys.stdout.flush()
    # background threads of the client must not keep the process alive
    os._exit(code)


if __name__ == "__main__":
    main()
