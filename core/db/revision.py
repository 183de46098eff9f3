"""The Alembic revision this code expects (a test keeps it equal to the migrations' head).
Kept as a constant so /health/ready never has to import Alembic."""

SCHEMA_HEAD = "0027"
