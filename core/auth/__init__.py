"""Credentials: password hashing and signed tokens."""
