"""airspeed velocity benchmarks for mixedlm (pandas-style ``asv_bench`` layout)."""
