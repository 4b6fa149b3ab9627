"""The audit trail: who read or changed what, when and from where, hash-chained in audit_log."""
