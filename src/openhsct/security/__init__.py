"""Access control in one place: the rule of every URL (:mod:`openhsct.security.access`) and the optional
PostgreSQL row-level security (:mod:`openhsct.security.row_security`)."""
