"""What happened to each patient: the aHSCT pathway as a Django data model, with import/export,
synthetic data, roles and an audit history."""
