"""Azure plumbing any backend stands on: storage blobs, (credentials, the ARM pipeline and polling)."""
