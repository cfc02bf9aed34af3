"""Use cases: domain logic that web blueprints and tasks call; raises domain errors, never HTTP ones."""
