"""A confluent-kafka subscriber for high volume: reads events in batches and counts them per site and severity.

    python examples/alerts_confluent.py --bootstrap 127.0.0.1:9092 --group my-dashboard [--topic events]

On Vigie's local broker (SCRAM-SHA-512 and ACLs by default) add `--user NAME` with its password in
$VIGIE_KAFKA_PASSWORD (state_dir/kafka/credentials/NAME; never a command-line argument); the read-only
`reader` may join groups whose name starts with `vigie-cli-`.

librdkafka fetches in the background and consume() hands over up to --batch records at once, so a
Python consumer keeps up with the events topic (normalize's output, the busiest topic after the raw
ones). It joins a consumer group (--group): start several to share the partitions; offsets are
committed after each batch is counted (at least once). `--from-beginning` replays the retained
history on the group's first start (later starts resume at the committed offsets).
"""

import argparse
import os
from collections import Counter

from confluent_kafka import Consumer

from vigie.schemas.records import decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--prefix", default="vigie.", help="[kafka] topic_prefix")
    parser.add_argument("--topic", default="events", help="events or alerts")
    parser.add_argument("--group", required=True)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--max", type=int, default=0, help="stop after this many records (0: never)")
    parser.add_argument("--user", help="SCRAM-SHA-512 user (SASL_PLAINTEXT)")
    parser.add_argument("--password-env", default="VIGIE_KAFKA_PASSWORD", help="environment variable with its password")
    args = parser.parse_args()
    auth = {} if not args.user else {"security.protocol": "sasl_plaintext", "sasl.mechanism": "SCRAM-SHA-512",
                                     "sasl.username": args.user, "sasl.password": os.environ[args.password_env]}
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group, "enable.auto.commit": False, **auth,
                         "auto.offset.reset": "earliest" if args.from_beginning else "latest"})
    consumer.subscribe([f"{args.prefix}{args.topic}"])
    counts: Counter = Counter()
    seen = 0
    try:
        while not args.max or seen < args.max:
            batch = [m for m in consumer.consume(args.batch, 1.0) if m.error() is None]
            for message in batch:
                value = decode(message.value())
                if value is not None:
                    counts[(value.get("site") or "-", value["severity"])] += 1
            seen += len(batch)
            if batch:
                consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    for (site, severity), n in sorted(counts.items()):
        print(f"{site} {severity} {n}", flush=True)


if __name__ == "__main__":
    main()
