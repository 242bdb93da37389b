"""Composition root: creates the app and registers every blueprint, nothing else."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from activities.archive import bp as archive_bp
from activities.chat_completion import bp as chat_completion_bp
from activities.publish_events import bp as publish_events_bp
from activities.summarize import bp as summarize_bp
from activities.turns import bp as turns_bp
from api.ask import bp as ask_bp
from api.chats import bp as chats_bp
from api.events import bp as events_bp
from api.health import bp as health_bp
from api.openapi import bp as openapi_bp
from api.skills import bp as skills_api_bp
from api.turn_actions import bp as turn_actions_bp
from api.ui import bp as ui_bp
from assistant.providers import announce_model
from entities.chat import bp as chat_entity_bp
from maintenance.cleanup import bp as cleanup_bp
from orchestrators.chat_admin import bp as chat_admin_bp
from orchestrators.chat_expiry import bp as chat_expiry_bp
from orchestrators.post_user_query import bp as post_user_query_bp
from skills.blueprint import bp as skills_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (
    health_bp,
    openapi_bp,
    chats_bp,
    events_bp,
    turn_actions_bp,
    skills_api_bp,
    ui_bp,
    ask_bp,
    post_user_query_bp,
    chat_admin_bp,
    chat_expiry_bp,
    chat_completion_bp,
    archive_bp,
    summarize_bp,
    turns_bp,
    publish_events_bp,
    chat_entity_bp,
    skills_bp,
    cleanup_bp,
):
    app.register_functions(blueprint)

announce_model()
