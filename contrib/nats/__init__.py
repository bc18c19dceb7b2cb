"""NATS JetStream backends (in progress)."""
