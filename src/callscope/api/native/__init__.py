"""Callscope's own versioned API (`/v1`)."""
