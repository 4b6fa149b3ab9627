"""Telephone check-in over the API: setting carers' telephone PINs (docs/telephony.md). The
webhook itself is the `ecm telephony` role, not this API."""
