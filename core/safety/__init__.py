"""What keeps a change safe: the local history, rollback and diff, the model-blob check."""
