"""A data manager's daily tools: soft checks, data queries, source-data verification, freezes and the
visit schedule (``docs/data-quality.md``)."""
