"""hvplan: optimization-based placement planner for Hyper-V failover clusters."""

__version__ = "0.1.0"
