"""A minimal Faust worker for the foundation test: counts values per key in a table and echoes the count."""

import os

import faust

PREFIX = os.environ["VIGIE_TEST_PREFIX"]
USER = os.environ.get("VIGIE_TEST_KAFKA_USER")  # the test broker's SCRAM user (tests/conftest.py)

app = faust.App(
    f"{PREFIX}counter",
    broker=f"kafka://{os.environ['VIGIE_TEST_BOOTSTRAP']}",
    broker_credentials=faust.SASLCredentials(username=USER, password=os.environ.get("VIGIE_TEST_KAFKA_PASSWORD"),
                                             mechanism="SCRAM-SHA-512") if USER else None,
    store="memory://",
    broker_session_timeout=6,
    broker_heartbeat_interval=1,
    broker_rebalance_timeout=6,
    web_enabled=False,  # also --without-web: the worker CLI would re-enable it on 0.0.0.0:6066
    topic_partitions=3,
    datadir=os.environ["VIGIE_TEST_DATADIR"],
)
source = app.topic(f"{PREFIX}raw.checks", key_serializer="raw", value_serializer="raw")
sink = app.topic(f"{PREFIX}events", key_serializer="raw", value_serializer="raw")
counts = app.Table("counts", default=int, partitions=3)


@app.agent(source)
async def count(stream):
    """Increment the key's counter and publish the new count."""
    async for key, _value in stream.items():
        counts[key] += 1
        await sink.send(key=key, value=str(counts[key]).encode())


if __name__ == "__main__":
    app.main()
