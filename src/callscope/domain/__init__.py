"""The vocabulary of ARCHITECTURE.md as typed values. Imports nothing else from callscope."""
