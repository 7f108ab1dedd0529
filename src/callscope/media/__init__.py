"""The media plane: Janus servers, rooms, recordings."""
