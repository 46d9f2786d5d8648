// OCI runtime-spec types.
