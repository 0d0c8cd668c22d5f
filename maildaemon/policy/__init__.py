"""The pure decision core: no sockets, files, databases or clocks.

Every function here takes the data it needs (and `now`, where time matters) as arguments, so
each rule can be tested with plain values and a message's fate can be replayed exactly.
`tests/test_policy_purity.py` keeps it that way.
"""
