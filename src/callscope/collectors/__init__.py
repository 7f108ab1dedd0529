"""Ingest: bytes in, validated rows out, exactly one outcome per item."""
