"""`python -m infra.cli`: the same command line as `rapport`."""

from infra.cli.app import main

main()
