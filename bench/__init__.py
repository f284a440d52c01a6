"""Benchmarks of the inference library (installed as ``attanet_bench``): the latency table of
``attanet bench`` and the CPU/GPU suites behind ``make bench`` and ``bench/run_gpu.sh``.

They build on ``attanet_model`` and are not part of it: nothing in the library imports them.
"""
