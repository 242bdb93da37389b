"""The test suite: mirrors the code's folders (one test module per module)."""
