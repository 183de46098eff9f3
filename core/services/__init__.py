"""Business rules, SQL and authorization, one module per concept. Services take their
collaborators (db session, settings, clock values) as keyword arguments."""
