"""Conformance tests in the manner of Autobahn|Testsuite, over real sockets.

A raw peer (:mod:`.peer`) plays the other end of the connection, byte by
byte, against our server and against our client.
"""
