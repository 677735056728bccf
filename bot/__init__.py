"""xinfang-bot: multi-channel intake bot for citizen petitions (信访)."""
