"""`python -m lead2inbound.cli`: the same as the `l2i` console script."""

from lead2inbound.cli.main import main

main()
