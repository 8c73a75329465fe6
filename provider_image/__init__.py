"""The provider worker that runs inside a provider container (or as a local process)."""
