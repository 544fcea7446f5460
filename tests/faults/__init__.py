"""Faults between the parts of a deployment: a TCP proxy that loses, cuts, resets or delays
replies (``proxy``), fixtures placing it in front of PostgreSQL, MariaDB, Redis and an app
server (``conftest``), and a load harness that counts lost and duplicated writes under faults
(``load``)."""
