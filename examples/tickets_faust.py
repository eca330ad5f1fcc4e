"""A Faust subscriber: opens a ticket in a ticketing REST API for every new incident Vigie opens.

    VIGIE_BOOTSTRAP=127.0.0.1:9092 VIGIE_TOPIC_PREFIX=vigie. TICKETS_URL=https://tickets.example.org/api/tickets \\
        python examples/tickets_faust.py worker --without-web -l warn

On Vigie's local broker (SCRAM-SHA-512 and ACLs by default) also set VIGIE_KAFKA_USERNAME and
VIGIE_KAFKA_PASSWORD (state_dir/kafka/credentials/<user>): a user that may read the incidents topic and
create and write the app's own changelog topic.

The incidents topic is compacted and keyed by incident id: every update of an incident is a new
value under the same key. A Table remembers which incidents already have a ticket (its changelog
makes that survive restarts), so each incident gets one POST, whatever its updates. The consumer
group is the app's id: start several workers with the same id to share the partitions.
"""

import json
import os
import urllib.request

import faust

from vigie.schemas.records import Incident

PREFIX = os.environ.get("VIGIE_TOPIC_PREFIX", "vigie.")
USER = os.environ.get("VIGIE_KAFKA_USERNAME")
app = faust.App(
    os.environ.get("TICKETS_APP_ID", f"{PREFIX}tickets"),
    broker=f"kafka://{os.environ.get('VIGIE_BOOTSTRAP', '127.0.0.1:9092')}",
    broker_credentials=faust.SASLCredentials(username=USER, password=os.environ.get("VIGIE_KAFKA_PASSWORD"),
                                             mechanism="SCRAM-SHA-512") if USER else None,
    store="memory://",
    web_enabled=False,  # also pass --without-web: the worker command would start it on 0.0.0.0:6066
    consumer_auto_offset_reset="earliest",
    broker_session_timeout=10,
    broker_heartbeat_interval=1,
    broker_rebalance_timeout=10,
    datadir=os.environ.get("TICKETS_DATADIR", "tickets-data"),
    topic_partitions=int(os.environ.get("VIGIE_PARTITIONS", "3")),
)
incidents = app.topic(f"{PREFIX}incidents", key_type=str, value_type=Incident)
ticketed = app.Table("ticketed", default=bool)


def open_ticket(incident: Incident) -> None:
    """POST the ticket; an HTTP error raises, and Faust retries the event after a restart."""
    body = {"title": f"[{incident.severity}] {incident.site}: {incident.root_cause['host']}", "external_id": incident.id,
            "opened_at": incident.opened_at, "alerts": incident.alerts}
    req = urllib.request.Request(os.environ["TICKETS_URL"], data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10):
        pass


@app.agent(incidents)
async def forward(stream):
    async for incident in stream:
        if incident is None or incident.status != "open" or ticketed[incident.id]:
            continue  # a tombstone, a resolved incident, or one that has its ticket already
        await app.loop.run_in_executor(None, open_ticket, incident)
        ticketed[incident.id] = True


if __name__ == "__main__":
    app.main()
