"""One harness per entry point that reads untrusted bytes; each module has ``MAX_LEN``,
``seeds()`` and ``test_one(data)`` (see :mod:`fuzz.driver` for the contract)."""
