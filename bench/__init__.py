"""`make bench`: the mesh's figures against anchors measured in the same run.

`python -m bench --help` lists the options; bench/runner.py says what runs in
which order. Nothing here asserts anything about time: the figures are
printed, with their targets, for people to read.
"""
