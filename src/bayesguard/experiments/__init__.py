"""The experiments of the talk and the benchmarks.

:mod:`.registry` registers each experiment once (its command, options and run function); the
``bayesguard`` command line (:mod:`bayesguard.cli`) is built from it, and :mod:`.report` writes every
run's CSVs, JSON record, table and plots. The built-in experiments are registered in :mod:`.demo` and
:mod:`.benches`; the experiment modules themselves (two doors, the bandit, structure, the plant) know
nothing of the command line.
"""
