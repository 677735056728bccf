"""How a petition reached the office, besides the chat channels (信、访、电), and how the
petitioner of such a petition is told: by SMS to a mobile, or on paper."""

from __future__ import annotations

ARRIVAL_CHANNELS = ("letter", "visit", "phone")  # 来信, 来访, 来电: registered by staff
SMS = "sms"  # the notice channel of a petitioner registered with a mobile number
# No electronic contact (no phone, or a landline only): every notice is handed over or
# posted on paper (书面告知). A contact on this channel is never sent anything.
PAPER = "paper"
