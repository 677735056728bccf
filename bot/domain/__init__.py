"""The pure facts of petition work: tracking numbers, statuses and transitions, search text."""
