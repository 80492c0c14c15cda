"""What the `openio` and `openio-admin` applications share, under 7.2's
module names: `clientmanager` (the clients a command uses),
`commandmanager`, `shell`, `utils` (argparse actions)."""
