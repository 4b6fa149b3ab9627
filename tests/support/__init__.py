"""What tests share: the test world, clients, handsets and principals (never conftest.py)."""
