"""Chronon's Thrift API model; see ttypes."""
