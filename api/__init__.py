"""HTTP routes of the assistant service."""
