"""One chat client for the soak tests of a deployment (tests/tests/deploy_round_robin.rs): the
python-socketio client talks to the chat example through a load balancer.

usage: python chatter.py <url> <name> <room> <polling|upgrade> <interval-ms>

Connects, takes the nickname <name>, joins <room> and prints {"ev": "joined"}. On the line "go"
(stdin) it posts a numbered message to the room every <interval-ms>, each waiting for its ack;
on "stop" it stops posting, listens two seconds more, prints what happened and exits:
  {"ev": "report", "acked": N, "failed": [...], "received": {"<from>": [seq, ...]},
   "transport": "polling"|"websocket", "disconnects": [...]}
It checks nothing itself: the Rust test compares every report with the others.
"""

import json
import sys
import threading
import time

import socketio

URL, NAME, ROOM, MODE, INTERVAL = sys.argv[1:6]
INTERVAL = int(INTERVAL) / 1000.0
STEP = 10.0


def out(ev, **fields):
    sys.stdout.write(json.dumps({"ev": ev, **fields}) + "\n")
    sys.stdout.flush()


def fail(message):
    out("error", message=message)
    sys.exit(1)


sio = socketio.Client(reconnection=False)
lock = threading.Lock()
received = {}
failed = []
disconnects = []
state = {"acked": 0, "sent": 0, "stopping": False}


@sio.on("message")
def on_message(m, *_offset):  # the chat recovers state: an offset may follow
    if not isinstance(m, dict) or m.get("room") != ROOM:
        return
    seq = int(str(m.get("text", "")).split("#")[1])
    with lock:
        received.setdefault(m.get("from"), []).append(seq)


@sio.event
def disconnect(reason=None):
    if not state["stopping"]:
        disconnects.append(str(reason))


transports = ["polling"] if MODE == "polling" else ["polling", "websocket"]
try:
    sio.connect(URL, transports=transports, wait_timeout=STEP)
except Exception as e:  # noqa: BLE001 - reported, the test fails on it
    fail("connect: %r" % e)

nick = sio.call("nick", NAME, timeout=STEP)
if not isinstance(nick, dict) or nick.get("nick") != NAME:
    fail("nick refused: %r" % (nick,))
joined = sio.call("join", ROOM, timeout=STEP)
if not isinstance(joined, dict) or joined.get("room") != ROOM:
    fail("join refused: %r" % (joined,))
out("joined", members=joined.get("members"))


def post():
    seq = 0
    while not state["stopping"]:
        started = time.monotonic()
        try:
            ack = sio.call("message", {"room": ROOM, "text": "%s#%d" % (NAME, seq)}, timeout=STEP)
            if isinstance(ack, dict) and ack.get("ok"):
                state["acked"] += 1
            else:
                failed.append({"seq": seq, "ack": ack})
        except Exception as e:  # noqa: BLE001 - reported, the test fails on it
            failed.append({"seq": seq, "error": repr(e)})
        seq += 1
        state["sent"] = seq
        time.sleep(max(0.0, INTERVAL - (time.monotonic() - started)))


poster = None
for line in sys.stdin:
    line = line.strip()
    if line == "go" and poster is None:
        poster = threading.Thread(target=post, daemon=True)
        poster.start()
    elif line == "stop":
        state["stopping"] = True
        if poster is not None:
            poster.join(STEP * 2)
        time.sleep(2.0)
        with lock:
            report = {k: list(v) for k, v in received.items()}
        out(
            "report",
            sent=state["sent"],
            acked=state["acked"],
            failed=failed,
            received=report,
            transport=sio.transport(),
            disconnects=disconnects,
        )
        sio.disconnect()
        sys.exit(0)
