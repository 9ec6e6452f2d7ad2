"""Benchmarks of the pipeline (`cqrs bench`): projector throughput against naive references,
peak memory, end to end freshness, replay/load rates, search API latency. See BENCHMARKS.md."""
