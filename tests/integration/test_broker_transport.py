"""The broker transport: `redis://` brokers publish through one redis-py client per connection pool
(kombu's own builds one per message), and every message still arrives, also after the pool is
replaced as kombu does on a connection error."""
from __future__ import annotations

from kombu import Connection, Queue

from celeryconfig import REDIS_TRANSPORT, celery_config


def test_redis_urls_get_the_transport_and_other_schemes_keep_kombus(settings):
    assert celery_config(settings)["broker_transport"] == REDIS_TRANSPORT
    tls = settings.model_copy(update={"celery_broker_url": "rediss://127.0.0.1:6380/0"})
    assert "broker_transport" not in celery_config(tls)


def test_publishes_share_one_client_per_pool_and_arrive(redis_url: str, redis_prefix: str):
    queue = Queue("transport-check")
    with Connection(redis_url, transport=REDIS_TRANSPORT,
                    transport_options={"global_keyprefix": redis_prefix + "transport:"}) as conn:
        with conn.Producer() as producer:
            channel = producer.channel
            producer.publish({"n": 0}, routing_key=queue.name, declare=[queue])
            first = channel._command_client
            producer.publish({"n": 1}, routing_key=queue.name, declare=[queue])
            assert first is not None and channel._command_client is first
            channel._disconnect_pools()  # what kombu does when the connection drops
            producer.publish({"n": 2}, routing_key=queue.name, declare=[queue])
            assert channel._command_client is not first and channel._command_client.connection_pool is channel.pool
        with conn.SimpleQueue(queue) as inbox:
            got = [inbox.get(timeout=5) for _ in range(3)]
            for message in got:
                message.ack()
    assert sorted(m.payload["n"] for m in got) == [0, 1, 2]
