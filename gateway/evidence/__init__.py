"""Evidence of presence in the home: SUN tag taps, one-time codes, GPS geofence, keys at rest."""
