"""`python -m v4agent`: the same command line as the `v4agent` script."""

from v4agent.cli.app import main

main()
