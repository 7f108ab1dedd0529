"""Synthetic call traffic sent through the real HTTP ingest path (demo and load)."""
