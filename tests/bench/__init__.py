"""Tests of the benchmarks' own parts: the bench app and the assistant turn benchmark."""
