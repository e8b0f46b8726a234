"""The contract kit: server and client verification suites and the pytest plugin (issue 5; not built yet)."""
