"""The store: all SQL in Clarion lives in this package (SQLAlchemy Core + Alembic)."""
