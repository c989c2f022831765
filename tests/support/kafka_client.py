#!/usr/bin/env python3
"""An independent Kafka client for tickflow's tests (confluent-kafka, not tickflow's code).

    kafka_client.py BROKER create TOPIC PARTITIONS
    kafka_client.py BROKER produce TOPIC FILE [--partition-by-line N] [--one-per-batch]
    kafka_client.py BROKER committed GROUP TOPIC PARTITIONS   (prints offsets, comma-separated)
    kafka_client.py BROKER consume TOPIC   (every message to the end, one JSON object a line:
                                            partition, offset, key, value, headers)

`produce` sends each line of FILE as one message. With --partition-by-line N, line i goes to
partition i % N (keeping each partition's order the file's order); otherwise to partition 0.
Raw bytes are sent as they are, so invalid UTF-8 and huge lines reach the broker unchanged.
"""
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create(broker, topic, partitions, config=None):
    admin = AdminClient({"bootstrap.servers": broker})
    new = NewTopic(topic, num_partitions=int(partitions), replication_factor=1, config=config or {})
    futures = admin.create_topics([new])
    for f in futures.values():
        f.result(30)
    # Wait until the topic's metadata shows every partition.
    for _ in range(100):
        md = admin.list_topics(topic, timeout=5)
        t = md.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == int(partitions):
            return
        time.sleep(0.1)
    raise SystemExit(f"topic {topic} did not appear")


def produce(broker, topic, path, spread, one_per_batch=False):
    config = {"bootstrap.servers": broker, "linger.ms": 5, "message.max.bytes": 10_000_000}
    if one_per_batch:
        # Every offset a batch boundary: tansu 0.6 answers a fetch from inside a batch with the
        # next batch, so seeking to a saved offset is exact only at batch boundaries.
        config.update({"linger.ms": 0, "batch.num.messages": 1})
    p = Producer(config)
    errors = []

    def report(err, _msg):
        if err is not None:
            errors.append(err)

    with open(path, "rb") as f:
        for i, line in enumerate(f):
            line = line.rstrip(b"\n")
            while True:
                try:
                    p.produce(topic, value=line, partition=(i % spread) if spread else 0, on_delivery=report)
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 10000 == 0:
                p.poll(0)
    left = p.flush(60)
    if left or errors:
        raise SystemExit(f"{left} messages not delivered; errors: {errors[:3]}")


def committed(broker, group, topic, partitions):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False})
    parts = [TopicPartition(topic, p) for p in range(int(partitions))]
    offsets = c.committed(parts, timeout=30)
    print(",".join(str(tp.offset) for tp in offsets))
    c.close()


def consume(broker, topic):
    import json

    from confluent_kafka import Consumer, KafkaError, TopicPartition

    c = Consumer({"bootstrap.servers": broker, "group.id": "tickflow-test-reader",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=30)
    parts = sorted(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    open_parts = set(parts)
    deadline = time.time() + 60
    while open_parts and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                open_parts.discard(m.partition())
                continue
            raise SystemExit(f"consume: {m.error()}")
        print(json.dumps({
            "partition": m.partition(),
            "offset": m.offset(),
            "key": None if m.key() is None else m.key().decode(),
            "value": None if m.value() is None else m.value().decode(),
            "headers": {k: v.decode() for k, v in (m.headers() or [])},
        }))
    c.close()
    if open_parts:
        raise SystemExit(f"partitions {sorted(open_parts)} did not reach their end")


if __name__ == "__main__":
    broker, verb = sys.argv[1], sys.argv[2]
    if verb == "create":
        config = {}
        if "--compact" in sys.argv:
            config["cleanup.policy"] = "compact"
        create(broker, sys.argv[3], sys.argv[4], config)
    elif verb == "produce":
        spread = 0
        if "--partition-by-line" in sys.argv:
            spread = int(sys.argv[sys.argv.index("--partition-by-line") + 1])
        produce(broker, sys.argv[3], sys.argv[4], spread, "--one-per-batch" in sys.argv)
    elif verb == "committed":
        committed(broker, sys.argv[3], sys.argv[4], sys.argv[5])
    elif verb == "consume":
        consume(broker, sys.argv[3])
    else:
        raise SystemExit(f"unknown verb {verb}")
