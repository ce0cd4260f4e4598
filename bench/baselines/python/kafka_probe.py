"""The Kafka broker alone, without any Socket.IO server: how long a record takes from a producer
to a consumer through the broker on 127.0.0.1:9092, at a fixed rate. The benchmark prints this
beside its Kafka figures, so that a reader can tell the broker's share of the added latency.

    python kafka_probe.py [RATE per second] [SECONDS] [FETCH_WAIT_MS]

One line on stdout: records sent and received, p50, p99 and the worst latency. A fresh topic per
run; kafka-python on both sides (producer linger 0, acks=1; consumer fetch.min.bytes 1).
"""

import struct
import sys
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

BROKER = "127.0.0.1:9092"


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 5000.0
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    fetch_wait = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    topic = f"volley-probe-{int(time.time() * 1000)}"
    admin = KafkaAdminClient(bootstrap_servers=BROKER)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()

    consumer = KafkaConsumer(
        bootstrap_servers=BROKER, fetch_max_wait_ms=fetch_wait, fetch_min_bytes=1
    )
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_end(partition)
    consumer.position(partition)

    total = int(rate * seconds)
    latencies: list[float] = []
    finished = threading.Event()

    def consume() -> None:
        deadline = None
        while len(latencies) < total:
            for records in consumer.poll(timeout_ms=100).values():
                now = time.monotonic()
                latencies.extend(now - struct.unpack("d", r.value)[0] for r in records)
            if finished.is_set():
                deadline = deadline or time.monotonic() + 5
                if time.monotonic() > deadline:
                    break

    reader = threading.Thread(target=consume)
    reader.start()
    producer = KafkaProducer(bootstrap_servers=BROKER, linger_ms=0, acks=1)
    start = time.monotonic()
    for i in range(total):
        wait = start + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        producer.send(topic, struct.pack("d", time.monotonic()))
    producer.flush()
    finished.set()
    reader.join()
    consumer.close()
    producer.close()

    latencies.sort()
    if not latencies:
        print(f"{total} records sent at {rate:.0f}/s, none received")
        sys.exit(1)

    def ms(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    print(
        f"{total} records sent at {rate:.0f}/s, {len(latencies)} received: p50 {ms(0.5):.1f} ms, "
        f"p99 {ms(0.99):.1f} ms, worst {latencies[-1] * 1000:.1f} ms "
        f"(consumer fetch wait {fetch_wait} ms)"
    )


if __name__ == "__main__":
    main()
