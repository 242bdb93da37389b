"""Durable conformance suite: small v2 apps driven through a real devhost over real HTTP."""
