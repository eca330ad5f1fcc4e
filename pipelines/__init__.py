"""The stream stages (normalize, correlate) on confluent-kafka batch loops (runtime.py), the notification consumer and the archive sink."""
