"""API schemas (pydantic), separate from the ORM tables. Requests forbid unknown fields."""
