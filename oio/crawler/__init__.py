"""Background and one-shot checkers of the namespace (integrity, ...)."""
