"""The bot's command groups, one extension each."""
