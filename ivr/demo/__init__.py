"""``ivr demo``: the desk line on loopback, called by scripted callers over real SIP."""
