"""Entry points and their parts: the reactord daemon (assembled by ``daemon``), the
reactorctl CLI (``ctl/``), the process harness (``harness``), benchmarks (``bench/``),
fuzz and soak (``hardening/``)."""
