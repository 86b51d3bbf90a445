//! The Slack app manifest, generated from the command language.

use serde_json::{Value, json};

/// A complete Slack app manifest: scopes, events, every slash command, Socket Mode on.
pub fn slack_app_manifest() -> Value {
    json!({
        "display_information": {
            "name": "deckhand",
            "description": "Deploys, approvals, rollbacks, backups, incidents and secret reminders",
            "background_color": "#1d3557"
        },
        "features": {
            "bot_user": { "display_name": "deckhand", "always_online": true },
            "slash_commands": deckhand_commands::manifest::slack_slash_commands()
        },
        "oauth_config": {
            "scopes": {
                "bot": [
                    "app_mentions:read",
                    "channels:read",
                    "chat:write",
                    "chat:write.public",
                    "commands",
                    "reactions:read",
                    "reactions:write",
                    "users:read"
                ]
            }
        },
        "settings": {
            "event_subscriptions": {
                "bot_events": ["app_mention", "reaction_added", "reaction_removed"]
            },
            "interactivity": { "is_enabled": true },
            "org_deploy_enabled": false,
            "socket_mode_enabled": true,
            "token_rotation_enabled": false
        }
    })
}
