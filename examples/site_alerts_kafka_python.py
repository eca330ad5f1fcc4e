"""A kafka-python subscriber: prints the alerts of one site as they change.

    python examples/site_alerts_kafka_python.py --bootstrap 127.0.0.1:9092 --site mairie [--from-beginning]

On Vigie's local broker (SCRAM-SHA-512 and ACLs by default) add `--user reader` with the password of
state_dir/kafka/credentials/reader in $VIGIE_KAFKA_PASSWORD (a password is never a command-line argument).

The alerts topic is compacted and keyed by fingerprint: reading it from the beginning gives the
last state of every alert still known (a tombstone, a null value, means the alert is gone). No
consumer group commits here (group_id=None): each start decides where to read.
"""

import argparse
import os

from kafka import KafkaConsumer

from vigie.schemas.records import decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--prefix", default="vigie.", help="[kafka] topic_prefix")
    parser.add_argument("--site", required=True)
    parser.add_argument("--from-beginning", action="store_true", help="replay the topic (default: new changes only)")
    parser.add_argument("--max", type=int, default=0, help="stop after printing this many alerts (0: never)")
    parser.add_argument("--idle-timeout", type=float, default=0, help="stop after this many idle seconds (0: never)")
    parser.add_argument("--user", help="SCRAM-SHA-512 user (SASL_PLAINTEXT)")
    parser.add_argument("--password-env", default="VIGIE_KAFKA_PASSWORD", help="environment variable with its password")
    args = parser.parse_args()
    auth = {} if not args.user else {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                                     "sasl_plain_username": args.user,
                                     "sasl_plain_password": os.environ[args.password_env]}
    consumer = KafkaConsumer(f"{args.prefix}alerts", bootstrap_servers=args.bootstrap, group_id=None, **auth,
                             auto_offset_reset="earliest" if args.from_beginning else "latest",
                             consumer_timeout_ms=int(args.idle_timeout * 1000) or float("inf"))
    printed = 0
    for message in consumer:
        alert = decode(message.value)
        if alert is None or alert.get("site") != args.site:
            continue
        print(f"{alert['status']:8} {alert['severity']:8} {alert['host']} {alert.get('component') or ''}: "
              f"{alert['summary']}", flush=True)
        printed += 1
        if args.max and printed >= args.max:
            break
    consumer.close()


if __name__ == "__main__":
    main()
