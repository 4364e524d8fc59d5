"""`python -m tests.bench` (what `make bench` and `make bench-quick` run): see tests/bench/run.py."""
import sys

from .run import main

sys.exit(main())
