"""Synthetic call traffic through the real HTTP ingest path, with its ground truth.

`scenario` plans the calls (seeded, pure), `clients` says who is calling, `media` turns a planned
session into the events and samples it reports, `traffic` sends them at a chosen speed-up,
`truth` records what the server accepted, and `demo` keeps `callscope serve --demo` busy.
"""
