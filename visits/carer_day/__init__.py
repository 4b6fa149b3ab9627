"""The carer's day: per carer and London day, the visits, the contact time, the travel between
visits and the unpaid gaps, and whether the day's pay covers the National Living Wage for the
time worked (docs/carer-day.md).

`rules` and `pay` are pure functions over the stays the visit builder made; `repository` holds
the SQL; `service` composes them for a provider's carers and for a council's aggregates.
"""
