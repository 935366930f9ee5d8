"""Looking at runs: their training curves (`curves`, `textvae plot`)."""
