"""Administration logic behind `openio-admin` (locate, repair, services),
kept out of the CLI so that it is usable and testable on its own."""
