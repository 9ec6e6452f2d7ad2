"""One module per command group; each defines `register(subparsers)` and sets `func` on its parser."""
