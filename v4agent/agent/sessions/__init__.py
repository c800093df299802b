"""Durable, resumable agent sessions: JSON-lines records, content blobs, pruning."""
