"""The broadcast server that runs inside a broadcast container (or as a local process)."""
