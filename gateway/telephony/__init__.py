"""Telephone check-in: a carer calls from the service user's landline, keys their carer number
and PIN, and the gateway's telephony bridge signs the check-in or check-out as an event of its
own device and publishes it like a handset's (docs/telephony.md, docs/evidence.md).

Modules are imported where used: the registry needs only `numbers`, the webhook role the rest.
"""
