"""Entry points: the reactord daemon, the reactorctl CLI, benchmarks."""
