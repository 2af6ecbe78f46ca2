"""The demo shop's default size and seed: a module light enough for the CLI to import at start-up."""

DEFAULT_CUSTOMERS = 10_000
DEFAULT_SEED = 42
