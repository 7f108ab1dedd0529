"""The web dashboard; calls the same analytics functions as the API."""
