"""Composition root: creates the app and registers every blueprint, nothing else."""
from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from api.health import bp as health_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
