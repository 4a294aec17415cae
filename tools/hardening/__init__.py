"""Fuzzing and soak runs against a live reactord."""
