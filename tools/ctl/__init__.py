"""reactorctl's parts: command syntax, output formatting, bulk loads."""
