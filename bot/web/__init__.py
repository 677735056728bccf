"""The bot's own web surfaces for staff: the console (/staff) and the JSON API (/api/v1)."""
