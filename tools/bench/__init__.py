"""Benchmarks and their baselines (asyncio, pre-encoded); the product never imports them."""
