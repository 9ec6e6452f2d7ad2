"""Operator side of the CQRS analytics pipeline: settings, the embedded local stack, the CLI."""
