"""`python -m cacherr` runs the command line."""

from cacherr.cli import main

raise SystemExit(main())
