"""`make bench`: PayLab measured from outside against a floor app of its own stack (issue 11).

Not a test suite: pytest collects nothing here (no test_*.py files). `python -m tests.bench`
runs it; tests/integration/test_bench_quick.py checks that its quick mode still works.
"""
