"""`python -m shopctl`, the same as the `shopmesh` command."""

from shopctl.cli import main

raise SystemExit(main())
