"""Test support: real redis-server and real service processes."""
