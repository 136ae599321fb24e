"""The clinicians' area: each centre's own dashboard and follow-up entry, behind login and roles."""
