"""Tests of devhost's HTTP host (unit tests of its rooms, integration tests of `python -m devhost start`)."""
